"""Saturn's error answers may quote the API token (a 403 saying ``token <TOKEN> may not ...``): no message of
either client ever carries the client's own token, whatever part of the answer it comes from.

A raw HTTP server (``tests/misbehaving_server.py``) answers each call with the token in its words; the sync and
the async client must mask it in the exception's text, its ``message``, its repr, and in the logs (from INFO: the
HTTP libraries' own DEBUG traces print raw headers).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_saturn.client import AsyncSaturnClient, RetryPolicy, SaturnClient, SaturnError
from airflow_provider_saturn.client.credentials import resolve_credentials
from tests.misbehaving_server import Answer, misbehaving_server

TOKEN = "tok-9c2e5a1f7b3d4e6a8c0f"
ID = "c" * 32
ONE_ATTEMPT = RetryPolicy(max_attempts=1)

ANSWERS: dict[str, Callable[[], Answer]] = {
    "403-message": lambda: Answer.json({"message": f"token {TOKEN} may not stop this"}, status=403),
    "404-detail": lambda: Answer.json({"detail": f"no workspace for Authorization: token {TOKEN}"}, status=404),
    "409-error-object": lambda: Answer.json({"error": {"message": f"held by {TOKEN}"}}, status=409),
    "422-items": lambda: Answer.json(
        {"detail": [{"loc": ["header", "authorization"], "msg": f"bad token {TOKEN}", "input": TOKEN}]}, status=422
    ),
    "500-json-escaped": lambda: Answer(
        status=500, body=('{"message": "' + json.dumps(f'said "{TOKEN}"')[1:-1] + '"}').encode()
    ),
    "redirect": lambda: Answer(status=302, headers={"Location": f"https://login.example/{TOKEN}/x?t={TOKEN}"}),
    "not-json-content-type": lambda: Answer(status=200, headers={"Content-Type": f"text/html; t={TOKEN}"}, body=b"<p>"),
    "masked-before-it-is-cut": lambda: Answer.json({"message": "x" * 470 + TOKEN}, status=400),
}


def sync_stop(url: str) -> None:
    with SaturnClient(url=url, api_token=TOKEN, retry=ONE_ATTEMPT, timeout=5) as client:
        client.stop_jupyter_server(ID)


def async_read(url: str) -> None:
    async def run() -> None:
        client = AsyncSaturnClient(resolve_credentials(url, TOKEN), timeout=5, retry=ONE_ATTEMPT)
        try:
            await client.get_resource("jupyter_server", ID)
        finally:
            await client.aclose()

    asyncio.run(run())


CALLS: dict[str, Callable[[str], None]] = {"sync": sync_stop, "async": async_read}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("client", list(CALLS))
def test_no_error_message_carries_the_clients_own_token(client: str, answer: str, caplog: Any) -> None:
    server = misbehaving_server(lambda seen: ANSWERS[answer]())
    with caplog.at_level(logging.INFO), server as running, pytest.raises(SaturnError) as raised:
        CALLS[client](running.url)
    error = raised.value
    shown = " ".join((str(error), repr(error), str(getattr(error, "message", "")), caplog.text))
    assert TOKEN not in shown, shown
    assert TOKEN[:8] not in shown, "not even the start of a token cut short"
    assert running.requests, "the request was sent"


def test_the_words_around_the_token_stay(caplog: Any) -> None:
    with misbehaving_server(lambda seen: ANSWERS["403-message"]()) as server, pytest.raises(SaturnError) as raised:
        sync_stop(server.url)
    assert "token *** may not stop this" in str(raised.value), raised.value
