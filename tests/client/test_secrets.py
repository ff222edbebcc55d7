"""The token appears in no log line, exception text or repr, even on failures and retries."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnError
from airflow_provider_saturn.client.credentials import resolve_credentials
from tests.conftest import FAST_RETRY, TOKEN


def test_token_never_in_logs_exceptions_or_reprs(emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = SaturnClient(url=emulator.url, api_token=TOKEN, retry=FAST_RETRY)
    texts = [repr(client), str(client), repr(resolve_credentials(emulator.url, TOKEN))]
    project = client.create_project("secret")
    emulator.set_faults(queue=["error", "throttle", "drop"], retry_after=0)
    client.get_project(project["id"])
    emulator.set_faults(queue=["error"] * FAST_RETRY.max_attempts)
    failures: list[BaseException] = []
    for call in (
        lambda: client.get_project(project["id"]),
        lambda: client.get_project("0" * 32),
        lambda: SaturnClient(url=emulator.url, api_token=TOKEN + "x", retry=FAST_RETRY).list_projects(),
        lambda: client.create_project("bad", jupyter_size="nope"),
    ):
        with pytest.raises(SaturnError) as caught:
            call()
        failures.append(caught.value)
    texts += [str(error) for error in failures] + [repr(error) for error in failures]
    texts.append(caplog.text)
    assert any("retrying" in line for line in caplog.messages), "the retries were logged"
    for text in texts:
        assert TOKEN not in text


def test_a_refused_request_is_not_repeated_in_the_error(emulator, client, caplog: pytest.LogCaptureFixture) -> None:
    """The emulator, as Saturn does, quotes an invalid part of a command in its 422: never into our messages."""
    caplog.set_level(logging.DEBUG)
    secret = "tok-5e8a1f3c9b7d"
    with pytest.raises(SaturnError) as caught:
        client.create_job("nightly", command=f"sleep {secret}", environment_variables={"API_KEY": secret})
    text = str(caught.value)
    assert "HTTP 422" in text and "command" in text, "the status and the field stay"
    assert "takes a number" in text, "and Saturn's words about it"
    for shown in (text, repr(caught.value), caplog.text):
        assert secret not in shown
