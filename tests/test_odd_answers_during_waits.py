"""One odd answer from a proxy in the middle of a wait (an empty 200, HTML, ``null``) does not end the wait.

It is transient: retried within the poll and, once retries are spent, polled through until the deadline,
in the sync wait and in the trigger alike.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_saturn.client import RetryPolicy, SaturnClient, SaturnWaitTimeoutError
from airflow_provider_saturn.triggers.status import SaturnStatusTrigger
from airflow_provider_saturn.waiting import wait_for_status
from tests.harness import first_event
from tests.misbehaving_server import Answer, MisbehavingServer, misbehaving_server

TOKEN = "odd-answers-token"
ID = "d" * 32
NO_RETRY = RetryPolicy(max_attempts=1)
ODD = [
    Answer(body=b""),
    Answer(headers={"Content-Type": "text/html"}, body=b"<html>502 Bad Gateway</html>"),
    Answer.json(None),
    Answer.json({"no": "id"}),
]


def workspace(status: str) -> Answer:
    return Answer.json({"id": ID, "name": "w", "status": status})


def test_the_sync_wait_polls_through_odd_answers() -> None:
    with misbehaving_server() as server:
        server.answer_in_turn(*ODD, workspace("pending"), workspace("running"))
        client = SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY, timeout=2)
        server_state = wait_for_status(
            lambda: client.get_resource("jupyter_server", ID),
            kind="jupyter_server",
            resource_id=ID,
            target="running",
            timeout=20,
            poll_interval=0.05,
        )
        assert server_state["status"] == "running"
        assert len(server.requests) == len(ODD) + 2


def test_the_sync_wait_times_out_naming_the_last_problem() -> None:
    with misbehaving_server() as server:
        server.answer_always(Answer(body=b""))
        client = SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY, timeout=2)
        with pytest.raises(SaturnWaitTimeoutError, match="an empty body where a JSON object was expected"):
            wait_for_status(
                lambda: client.get_resource("jupyter_server", ID),
                kind="jupyter_server",
                resource_id=ID,
                target="running",
                timeout=0.5,
                poll_interval=0.1,
            )


def point_saturn_default_at(server: MisbehavingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = {"conn_type": "saturn", "host": server.url, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))


def test_the_trigger_polls_through_odd_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    with misbehaving_server() as server:
        point_saturn_default_at(server, monkeypatch)
        server.answer_in_turn(*ODD, workspace("pending"), workspace("running"))
        trigger = SaturnStatusTrigger(
            resource_kind="jupyter_server",
            resource_id=ID,
            target_status="running",
            deadline=time.time() + 20,
            poll_interval=0.05,
            retry=NO_RETRY.to_dict(),
        )
        event = asyncio.run(first_event(trigger))
        assert event.payload["status"] == "success", event.payload
        assert len(server.requests) == len(ODD) + 2


def test_the_trigger_retries_an_odd_answer_within_one_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long poll interval and a short deadline: only a retry inside the poll can reach ``running`` in time."""
    with misbehaving_server() as server:
        point_saturn_default_at(server, monkeypatch)
        server.answer_in_turn(Answer(body=b""), workspace("running"))
        trigger = SaturnStatusTrigger(
            resource_kind="jupyter_server",
            resource_id=ID,
            target_status="running",
            deadline=time.time() + 5,
            poll_interval=60,
            retry={"max_attempts": 3, "initial_wait": 0.01, "max_wait": 0.05},
        )
        started = time.monotonic()
        event = asyncio.run(first_event(trigger))
        assert event.payload["status"] == "success", event.payload
        assert time.monotonic() - started < 2
        assert len(server.requests) == 2
