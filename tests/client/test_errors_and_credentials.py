"""Clear errors for a wrong token, an unknown id, missing settings; credentials from the environment."""

from __future__ import annotations

import pytest

from airflow_provider_saturn.client import (
    SaturnAPIError,
    SaturnAuthError,
    SaturnClient,
    SaturnConfigError,
    SaturnNotFoundError,
)
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import FAST_RETRY, TOKEN, requests_to


def test_wrong_token_says_the_token_is_wrong_and_is_not_retried(emulator) -> None:
    bad = SaturnClient(url=emulator.url, api_token="not-the-token", retry=FAST_RETRY)
    with pytest.raises(SaturnAuthError) as caught:
        bad.list_projects()
    assert caught.value.status_code == 401
    assert "token was rejected" in str(caught.value)
    assert requests_to(emulator, "GET /api/workspaces") == 1


def test_expired_token_says_it_expired(emulator) -> None:
    expired = SaturnClient(url=emulator.url, api_token="expired-token", retry=FAST_RETRY)
    with pytest.raises(SaturnAuthError, match="has expired"):
        expired.get_project("0" * 32)


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ("get_project", "project"),
        ("get_jupyter_server", "jupyter server"),
        ("start_jupyter_server", "jupyter server"),
        ("get_dask_cluster", "dask cluster"),
        ("stop_dask_cluster", "dask cluster"),
    ],
)
def test_unknown_id_is_a_404_naming_the_id(client: SaturnClient, emulator, call: str, kind: str) -> None:
    missing = "f" * 32
    with pytest.raises(SaturnNotFoundError) as caught:
        getattr(client, call)(missing)
    assert caught.value.status_code == 404
    assert f"Saturn has no {kind} with id '{missing}'" in str(caught.value)
    assert emulator.config.stats.requests == 1, "a 404 is not retried"


def test_a_name_given_as_id_gets_a_hint(client: SaturnClient) -> None:
    with pytest.raises(SaturnNotFoundError, match="maybe a name was given instead of an id"):
        client.get_project("my-project")


def test_invalid_body_is_a_422_with_sautrns_message(client: SaturnClient, emulator) -> None:
    from airflow_provider_saturn.client.responses import RequestTarget

    with pytest.raises(SaturnAPIError) as caught:
        client._send(RequestTarget("POST", "api/workspaces"), json={"name": ""})
    assert caught.value.status_code == 422
    assert "name" in caught.value.message


def test_missing_url_and_token_name_what_to_set(monkeypatch) -> None:
    for name in ("SATURN_BASE_URL", "BASE_URL", "SATURN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SaturnConfigError, match="SATURN_BASE_URL"):
        SaturnClient()
    with pytest.raises(SaturnConfigError, match="SATURN_TOKEN"):
        SaturnClient(url="https://saturn.example.com")
    with pytest.raises(SaturnConfigError, match="not a valid Saturn URL"):
        SaturnClient(url="ftp://saturn.example.com", api_token="x")


def test_inside_saturn_the_environment_is_used(emulator, monkeypatch) -> None:
    monkeypatch.setenv("SATURN_BASE_URL", emulator.url)
    monkeypatch.setenv("SATURN_TOKEN", TOKEN)
    assert SaturnClient().get_status()["version"] == "2026.02.01"


def test_older_base_url_variable_is_a_fallback(emulator, monkeypatch) -> None:
    monkeypatch.delenv("SATURN_BASE_URL", raising=False)
    monkeypatch.setenv("BASE_URL", emulator.url + "/")
    monkeypatch.setenv("SATURN_TOKEN", TOKEN)
    assert SaturnClient().url == emulator.url


@pytest.mark.parametrize("suffix", ["", "/"])
def test_url_with_a_path_prefix_and_with_or_without_trailing_slash(suffix: str) -> None:
    with SaturnEmulator(token=TOKEN, path_prefix="/saturn") as prefixed:
        assert prefixed.url.endswith("/saturn")
        client = SaturnClient(url=prefixed.url + suffix, api_token=TOKEN)
        assert client.create_project("behind-a-proxy")["name"] == "behind-a-proxy"
        assert [p["name"] for p in client.list_projects()] == ["behind-a-proxy"]


def test_every_request_carries_user_agent_and_keeps_one_connection(client: SaturnClient, emulator) -> None:
    from airflow_provider_saturn import __version__

    assert client._session.headers["User-Agent"] == f"airflow-provider-saturn/{__version__}"
    for _ in range(5):
        client.get_status()
    assert emulator.config.stats.requests == 5
    assert len(emulator.config.stats.connections) == 1, "keep-alive: one TCP connection for all five"
