"""Settings are input too: a token or URL that cannot work is refused at once, and never repeated back."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from airflow_provider_saturn.client import AsyncSaturnClient, RetryPolicy, SaturnClient, SaturnConfigError
from airflow_provider_saturn.client.credentials import resolve_credentials
from airflow_provider_saturn.client.paging import PageLimits
from tests.misbehaving_server import misbehaving_server

SECRET = "tok-9f8e7d6c5b4a"
PLAIN_HTTP_REFUSAL = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("token", [f"{SECRET}\nmore", f"{SECRET}\r\nX-Injected: 1", f"tok {SECRET}", f"{SECRET}\x00"])
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(SaturnConfigError, match="whitespace or control characters") as caught:
        SaturnClient(url="https://saturn.example.com", api_token=token)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"https://user:{SECRET}@saturn.example.com", "must not carry credentials"),
        (f"ftp://user:{SECRET}@saturn.example.com", "must not carry credentials"),
        ("http://[::1", "not valid"),
        ("https://saturn.example.com:99999", "not valid"),
        ("https://", "not a valid Saturn URL"),
        ("https://saturn example.com", "whitespace"),
    ],
)
def test_a_url_that_cannot_work_is_refused_without_repeating_credentials(url: str, problem: str) -> None:
    with pytest.raises(SaturnConfigError, match=problem) as caught:
        SaturnClient(url=url, api_token="t")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("token", [f"{SECRET}\u2019", f"\u201c{SECRET}\u201d", f"{SECRET}\u00e9"])
def test_a_token_with_characters_beyond_ascii_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(SaturnConfigError, match="not ASCII") as caught:
        SaturnClient(url="https://saturn.example.com", api_token=token)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://xn--:8080", "no valid IDNA name"),
        ("http://saturn.xn--zz-.example", "no valid IDNA name"),
        ("http://127.0.0.1:0", "port 0"),
        ("https://saturn.example.com/pre%zzfix", "does not start an escape"),
        ("https://saturn.example.com/%", "does not start an escape"),
    ],
)
def test_a_url_the_two_clients_would_treat_differently_is_refused(url: str, problem: str) -> None:
    with pytest.raises(SaturnConfigError, match=problem):
        SaturnClient(url=url, api_token="t")
    with pytest.raises(SaturnConfigError, match=problem):
        resolve_credentials(url, "t")  # what the async client is built from


def test_query_and_fragment_are_dropped_from_the_url() -> None:
    client = SaturnClient(url="https://saturn.example.com/prefix/?x=1#top", api_token="t")
    assert client.url == "https://saturn.example.com/prefix"


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, "30", True])
def test_a_timeout_must_be_a_positive_number(timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        SaturnClient(url="https://saturn.example.com", api_token="t", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("values", [{"max_total_seconds": math.inf}, {"max_wait": math.nan}, {"initial_wait": -1}])
def test_retry_times_must_be_finite(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy times"):
        RetryPolicy(**values)
    with pytest.raises(ValueError, match="PageLimits"):
        PageLimits(max_pages=0)


def test_https_to_a_plain_http_server_says_check_http_vs_https_at_once() -> None:
    with misbehaving_server(greeting=PLAIN_HTTP_REFUSAL) as server:
        host = f"127.0.0.1:{server.port}"  # no scheme: https is assumed
        client = SaturnClient(url=host, api_token="t", retry=RetryPolicy(max_attempts=5, initial_wait=0.5))
        with pytest.raises(SaturnConfigError) as caught:
            client.get_status()
        message = str(caught.value)
        assert f"Could not speak TLS with https://{host}" in message
        assert "http or https?" in message
        assert "no scheme, so https was assumed" in message
        assert server.connections == 1, "a set-up problem is not retried"


def test_https_to_a_plain_http_server_from_the_async_client() -> None:
    async def read() -> object:
        client = AsyncSaturnClient(resolve_credentials(f"https://127.0.0.1:{server.port}", "t"))
        try:
            return await client.get_resource("jupyter_server", "a" * 32)
        finally:
            await client.aclose()

    with misbehaving_server(greeting=PLAIN_HTTP_REFUSAL) as server:
        with pytest.raises(SaturnConfigError) as caught:
            asyncio.run(read())
        assert "http or https?" in str(caught.value)
        assert "assumed" not in str(caught.value), "the scheme was given"
        assert server.connections == 1
