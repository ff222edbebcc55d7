"""SaturnStatusTrigger: serialization, terminal events, polling, deadlines, cancellation, pooling, on_kill."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.async_client import MAX_CONNECTIONS, shared_async_client
from airflow_provider_saturn.client.credentials import resolve_credentials
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.conftest import TOKEN, requests_to
from tests.harness import first_event


def trigger_for(resource_id: str, **kwargs) -> SaturnStatusTrigger:
    settings = {
        "resource_kind": "jupyter_server",
        "resource_id": resource_id,
        "target_status": "running",
        "deadline": time.time() + 10,
        "poll_interval": 0.05,
        **kwargs,
    }
    return SaturnStatusTrigger(**settings)


@pytest.fixture
def workspace(saturn_connection, client: SaturnClient) -> dict:
    return client.create_project("trigger-target")


def test_serialize_round_trip_is_json_only_and_secret_free(saturn_connection) -> None:
    trigger = trigger_for("a" * 32, retry={"max_attempts": 3}, stop_on_kill=True)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_saturn.triggers.status.SaturnStatusTrigger"
    text = json.dumps(kwargs)
    assert TOKEN not in text
    rebuilt = SaturnStatusTrigger(**json.loads(text))
    assert rebuilt.serialize() == (path, kwargs)


async def test_success_event(workspace, client) -> None:
    client.start_jupyter_server(workspace["id"])
    event = (await first_event(trigger_for(workspace["id"]))).payload
    assert event == {
        "status": "success",
        "resource_id": workspace["id"],
        "target_status": "running",
        "last_status": "running",
        "message": f"Saturn Jupyter server {workspace['id']} is running",
        "started_here": False,
    }


async def test_error_event_carries_sautrns_message(workspace, client, saturn_connection) -> None:
    client.start_jupyter_server(workspace["id"])
    saturn_connection.fail("workspace", workspace["id"], "Node lost")
    event = (await first_event(trigger_for(workspace["id"]))).payload
    assert (event["status"], event["last_status"]) == ("error", "error")
    assert "Node lost" in event["message"]


async def test_error_is_success_when_it_is_the_target(workspace, client, saturn_connection) -> None:
    saturn_connection.fail("workspace", workspace["id"], "expected")
    event = (await first_event(trigger_for(workspace["id"], target_status="error", strict=False))).payload
    assert event["status"] == "success"


async def test_strict_wait_fails_when_the_resource_is_sent_the_other_way(workspace, client, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 5  # "stopping" lasts until the first poll, however slow the start
    client.start_jupyter_server(workspace["id"])
    client.stop_jupyter_server(workspace["id"])  # someone stops what the operator is starting
    event = (await first_event(trigger_for(workspace["id"]))).payload
    assert event["status"] == "error"
    assert "'stopping' while waiting for 'running'" in event["message"]


async def test_strict_wait_keeps_waiting_on_the_status_it_left_from(workspace) -> None:
    # Right after a start Saturn may still say "stopped": that is no failure, only no progress yet.
    event = (await first_event(trigger_for(workspace["id"], deadline=time.time() + 0.3))).payload
    assert (event["status"], event["last_status"]) == ("timeout", "stopped")


async def test_deadline_passed_gives_a_timeout_event(workspace, client, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(workspace["id"])
    event = (await first_event(trigger_for(workspace["id"], deadline=time.time() - 1))).payload
    assert (event["status"], event["last_status"]) == ("timeout", "pending")
    assert "Timed out" in event["message"]


async def test_still_polling_one_request_per_interval(workspace, client, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(workspace["id"])
    generator: Any = trigger_for(workspace["id"], poll_interval=0.2).run()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(generator.__anext__(), 1.0)
    await generator.aclose()
    polls = requests_to(saturn_connection, "GET /api/workspaces/{id}")
    assert 2 <= polls <= 6, polls  # at most one per 0.2 s interval (plus the first) in 1 s


async def test_missing_resource_is_an_error_event_naming_the_id(saturn_connection) -> None:
    event = (await first_event(trigger_for("c" * 32))).payload
    assert event["status"] == "error"
    assert "c" * 32 in event["message"]


async def test_cancelled_error_propagates(workspace, client, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(workspace["id"])
    task = asyncio.ensure_future(trigger_for(workspace["id"]).run().__anext__())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_many_waits_share_one_pooled_client(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 1.0  # several polls per wait
    ids = []
    for index in range(20):
        project = client.create_project(f"pool-{index}")
        client.start_jupyter_server(project["id"])
        ids.append(project["id"])
    saturn_connection.config.stats.connections.clear()
    events = await asyncio.gather(*(first_event(trigger_for(resource_id)) for resource_id in ids))
    assert {event.payload["status"] for event in events} == {"success"}
    credentials = resolve_credentials(saturn_connection.url, TOKEN)
    assert shared_async_client(credentials) is shared_async_client(credentials)
    connections = len(saturn_connection.config.stats.connections)
    polls = requests_to(saturn_connection, "GET /api/active/resources")
    # The first tick may come before every wait has asked (each first reads its connection): then it reads
    # the few that did on their own. From then on, one list a tick answers them all.
    assert requests_to(saturn_connection, "GET /api/workspaces/{id}") <= 3, "one list answers every wait"
    assert connections <= MAX_CONNECTIONS, connections
    assert connections * 2 < polls, "connections are reused across polls, not opened per poll"


async def test_on_kill_stops_what_the_operator_started(workspace, client, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(workspace["id"])
    await trigger_for(workspace["id"], stop_on_kill=True).on_kill()
    assert client.get_jupyter_server(workspace["id"])["status"] == "stopping"


async def test_on_kill_without_stop_on_kill_leaves_it(workspace, client, saturn_connection) -> None:
    client.start_jupyter_server(workspace["id"])
    await trigger_for(workspace["id"]).on_kill()
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 0


async def test_a_missing_connection_is_an_error_event(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SATURN_NOWHERE", raising=False)
    event = (await first_event(trigger_for("d" * 32, saturn_conn_id="saturn_nowhere"))).payload
    assert event["status"] == "error"
    assert "saturn_nowhere" in event["message"]


@pytest.mark.parametrize("bad", [0, -1, 0.0])
def test_a_non_positive_poll_interval_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        trigger_for("a" * 32, poll_interval=bad)


@pytest.mark.parametrize(
    "connection",
    [
        {"extra": {"timeout": "soon"}},  # ValueError
        {"extra": {"retry": {"max_attempts": 3, "bogus": 1}}},  # ValueError (or SaturnConfigError)
        {"extra": {"retry": 5}},  # TypeError
        {"host": ""},  # no Saturn URL
    ],
    ids=["timeout-not-a-number", "unknown-retry-setting", "retry-not-an-object", "no-host"],
)
async def test_a_connection_the_client_cannot_be_built_from_is_an_error_event(
    saturn_connection, monkeypatch, connection: dict[str, Any]
) -> None:
    conn = {"conn_type": "saturn", "host": saturn_connection.url, "password": TOKEN, **connection}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_BROKEN", json.dumps(conn))
    event = (await first_event(trigger_for("d" * 32, saturn_conn_id="saturn_broken"), limit=5)).payload
    assert event["status"] == "error"
    assert "saturn_broken" in event["message"]
    assert saturn_connection.config.stats.requests == 0


async def test_transient_failures_are_retried_within_one_poll_not_by_the_next_poll(
    workspace, client, saturn_connection
) -> None:
    """One poll a minute and a 5 s deadline: only the client's own retries can turn these faults into success."""
    client.start_jupyter_server(workspace["id"])
    await asyncio.sleep(saturn_connection.state.transition_seconds + 0.05)
    assert client.get_jupyter_server(workspace["id"])["status"] == "running"
    saturn_connection.config.stats.by_route.clear()
    saturn_connection.set_faults(queue=["error", "drop", "throttle"], retry_after=0)  # 3 of the 4 attempts
    started = time.monotonic()
    trigger = trigger_for(workspace["id"], poll_interval=60, deadline=time.time() + 5)
    event = (await first_event(trigger, limit=10)).payload
    assert event["status"] == "success", event
    assert time.monotonic() - started < 2
    assert requests_to(saturn_connection, "GET /api/workspaces/{id}") == 4, "three faults, then the answer"
    assert saturn_connection.config.stats.faults == {"error": 1, "drop": 1, "throttle": 1}
