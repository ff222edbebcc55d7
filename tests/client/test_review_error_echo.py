"""Saturn's 4xx answers can echo the request (issue 14.6): an error message never carries the values sent.

A raw HTTP server answers the request with what servers do send back: FastAPI's default 422 (``detail`` items
with ``input`` and ``ctx``), ``{"message": ...}``, ``{"detail": "..."}``, a plain text body, each repeating
the environment values, the command, the start script and the files sent. The sync client and the async one
must keep the field location and Saturn's ``msg``, and nothing of the values: not in the exception's text, its
repr, its ``message``, nor in the logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_saturn.client import AsyncSaturnClient, RetryPolicy, SaturnAPIError, SaturnClient
from airflow_provider_saturn.client.credentials import resolve_credentials
from airflow_provider_saturn.client.error_text import error_text, known_values
from airflow_provider_saturn.client.wire import MAX_MESSAGE_LENGTH
from tests.misbehaving_server import Answer, Seen, misbehaving_server

TOKEN = "echo-token-5b1f0c2e"
ID = "b" * 32
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
DB_PASSWORD = "correct-horse-battery-staple"
SHORT_SECRET = "pw9!"  # an environment value of 4 characters is masked too
COMMAND_TOKEN = "ghp_4f7a1c9e2b8d6a0f3e5c"
SCRIPT_SECRET = "AKIAIOSFODNN7EXAMPLE"
SECRETS = (DB_PASSWORD, SHORT_SECRET, COMMAND_TOKEN, SCRIPT_SECRET)
ENVIRONMENT = {"DB_PASSWORD": DB_PASSWORD, "PIN": SHORT_SECRET}
COMMAND = f"python etl.py --token {COMMAND_TOKEN} --verbose"
START_SCRIPT = f"export AWS_ACCESS_KEY_ID={SCRIPT_SECRET}\npip install -r requirements.txt"


def fastapi_422(body: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's default answer to a body that fails validation: every item echoes what it was given."""
    return {
        "detail": [
            {
                "type": "string_pattern_mismatch",
                "loc": ["body", "environment_variables", "DB_PASSWORD"],
                "msg": "String should match pattern '^[a-z]+$'",
                "input": body["environment_variables"]["DB_PASSWORD"],
                "ctx": {"pattern": "^[a-z]+$", "error": f"bad value {DB_PASSWORD}"},
                "url": "https://errors.pydantic.dev/2.9/v/string_pattern_mismatch",
            },
            {
                "type": "value_error",
                "loc": ["body", "command"],
                "msg": f"Value error, cannot parse {body['command']!r}",
                "input": body["command"],
                "ctx": {"error": {}},
            },
            {"type": "missing", "loc": ["body", "scale"], "msg": "Field required", "input": body},
        ]
    }


SHAPES: dict[str, Callable[[dict[str, Any]], Answer]] = {
    "fastapi 422": lambda body: Answer.json(fastapi_422(body), status=422, reason="Unprocessable Entity"),
    "message": lambda body: Answer.json({"message": f"invalid job {json.dumps(body)}"}, status=400),
    "detail string": lambda body: Answer.json({"detail": f"start_script {body['start_script']} fails"}, status=400),
    "detail object": lambda body: Answer.json({"detail": {"msg": "bad", "input": body}}, status=422),
    "message list": lambda body: Answer.json({"message": [{"loc": ["command"], "msg": body["command"]}]}, status=400),
    "plain text": lambda body: Answer(
        status=400, reason="Bad Request", headers={"Content-Type": "text/plain"}, body=json.dumps(body).encode()
    ),
    "error with a url": lambda body: Answer.json(
        {"error": f"cannot clone https://ada:{COMMAND_TOKEN}@git.example.com/r.git"}, status=400
    ),
}


def echoing(shape: str) -> Callable[[Seen], Answer]:
    def respond(seen: Seen) -> Answer:
        body = json.loads(seen.body or b"{}")
        body.setdefault("environment_variables", ENVIRONMENT)
        body.setdefault("command", COMMAND)
        body.setdefault("start_script", START_SCRIPT)
        return SHAPES[shape](body)

    return respond


def assert_secret_free(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    assert isinstance(error, SaturnAPIError), repr(error)
    texts = [str(error), repr(error), error.message, caplog.text]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} is in {text!r}"
    return str(error)


def sync_call(url: str, call: str) -> BaseException:
    client = SaturnClient(url=url, api_token=TOKEN, timeout=3, retry=ONE_ATTEMPT)
    with client, pytest.raises(SaturnAPIError) as caught:
        if call == "create_job":
            client.create_job("nightly", COMMAND, environment_variables=ENVIRONMENT, start_script=START_SCRIPT)
        else:
            client.update_job(ID, COMMAND, environment_variables=ENVIRONMENT, start_script=START_SCRIPT)
    return caught.value


def async_call(url: str) -> BaseException:
    body = {"environment_variables": ENVIRONMENT, "command": COMMAND, "start_script": START_SCRIPT}

    async def send() -> None:
        client = AsyncSaturnClient(resolve_credentials(url, TOKEN), timeout=3, retry=ONE_ATTEMPT)
        try:
            await client._request("POST", f"api/jobs/{ID}", "job", ID, json=body)
        finally:
            await client.aclose()

    with pytest.raises(SaturnAPIError) as caught:
        asyncio.run(send())
    return caught.value


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("call", ["create_job", "update_job", "async"])
def test_an_error_message_never_repeats_what_was_sent(shape: str, call: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with misbehaving_server(echoing(shape)) as server:
        error = sync_call(server.url, call) if call != "async" else async_call(server.url)
    text = assert_secret_free(error, caplog)
    assert len(text) < MAX_MESSAGE_LENGTH + 200
    if shape == "fastapi 422":
        assert "body.environment_variables.DB_PASSWORD: String should match pattern '^[a-z]+$'" in text
        assert "body.command: Value error, cannot parse" in text
        assert "body.scale: Field required" in text
        assert "pydantic.dev" not in text, "only the location and msg of each item"
    if shape == "plain text":
        assert "Bad Request" in text
    if shape == "error with a url":
        assert "https://***@git.example.com/r.git" in text


def test_the_useful_part_stays_and_the_bounds_hold() -> None:
    sent = {"name": "nightly-etl", "instance_size": "large", "environment_variables": {"FLAG": "1"}}
    payload = {"detail": [{"loc": ["body", "instance_size"], "msg": "must be one of ['large', 'xlarge']"}] * 30}
    text = error_text(payload, "Unprocessable Entity", sent)
    assert text.startswith("body.instance_size: must be one of ['large', 'xlarge']"), "a short value is no secret"
    assert "(and 20 more)" in text
    huge = {"message": "x" * 10_000 + DB_PASSWORD}
    assert DB_PASSWORD not in error_text(huge, "", {"environment_variables": {"A": DB_PASSWORD}})
    cut = {"message": "y" * 3990 + DB_PASSWORD}  # the value straddles the cut of the raw text
    assert DB_PASSWORD[:10] not in error_text(cut, "", {"environment_variables": {"A": DB_PASSWORD}})
    assert error_text({"message": "Job nightly-etl exists"}, "", sent) == "Job nightly-etl exists", "no secret"
    assert error_text([1, 2], "Bad Request", sent) == "Bad Request", "no JSON object: the reason only"


def test_known_values_take_secret_texts_and_their_pieces_only() -> None:
    values = known_values({"command": COMMAND, "description": "short", "tags": {"t": "a-long-tag-value"}})
    assert COMMAND in values and COMMAND_TOKEN in values, "a command and its words"
    assert "a-long-tag-value" not in values, "a tag is no secret: a message may name it"
    assert "short" not in values, "an ordinary short value would mask common words"


def test_a_huge_echo_of_a_huge_body_is_read_within_bounds() -> None:
    sent = {"environment_variables": {f"VAR_{n}": f"value-number-{n:06d}" for n in range(3000)}}
    items = [{"loc": ["body", "x"], "msg": "value-number-000042 " * 500, "input": sent}] * 200_000
    started = time.monotonic()
    text = error_text({"detail": items}, "", sent)
    assert time.monotonic() - started < 5, "bounded: the first items only, each read up to a limit"
    assert "value-number" not in text
    assert text.endswith("(and 199990 more)") or "[truncated]" in text
