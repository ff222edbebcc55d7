"""One poll answers many waits: every SaturnStatusTrigger of an event loop that shares a connection and a poll
interval shares one poller, which reads each resource once a tick. A wait cannot tell it was answered by a
shared poll; cancelling one touches no other; a poller with no waits left stops."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.job_runs import job_run_key
from airflow_provider_saturn.client.poller import _POLLERS
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.conftest import requests_to
from tests.harness import first_event

INTERVAL = 0.2


def wait_for(kind: str, resource_id: str, target: str = "running", **kwargs: Any) -> SaturnStatusTrigger:
    return SaturnStatusTrigger(
        resource_kind=kind,
        resource_id=resource_id,
        target_status=target,
        deadline=time.time() + kwargs.pop("within", 20),
        poll_interval=INTERVAL,
        **kwargs,
    )


def started_projects(client: SaturnClient, count: int) -> list[str]:
    ids = []
    for index in range(count):
        project = client.create_project(f"shared-{index}")
        client.start_jupyter_server(project["id"])
        ids.append(project["id"])
    return ids


async def test_waits_on_the_same_and_on_different_resources_share_each_read(saturn_connection, client) -> None:
    # Long enough to outlast the first connection lookup (over a second on Airflow 2.11): several ticks come
    # while the resources start.
    saturn_connection.state.transition_seconds = 2.5
    first, second = started_projects(client, 2)
    cluster = client.create_dask_cluster(first)["id"]
    client.start_dask_cluster(cluster)
    waits = [wait_for("jupyter_server", first) for _ in range(3)]
    waits += [wait_for("jupyter_server", second), wait_for("dask_cluster", cluster)]
    events = await asyncio.gather(*(first_event(wait) for wait in waits))
    assert [event.payload["status"] for event in events] == ["success"] * 5
    assert [event.payload["resource_id"] for event in events] == [first] * 3 + [second, cluster]
    lists = requests_to(saturn_connection, "GET /api/active/resources")
    assert lists >= 2, "several ticks while they started"
    own_reads = requests_to(saturn_connection, "GET /api/workspaces/{id}") + requests_to(
        saturn_connection, "GET /api/dask_clusters/{id}"
    )
    # The first tick may come before every wait has asked; from then on one list a tick answers them all.
    assert own_reads <= 3, "five waits on three resources: one list a tick answered them all"


async def test_one_wait_reads_its_resource_once_a_tick(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 1.0
    (project,) = started_projects(client, 1)
    started = time.monotonic()
    assert (await first_event(wait_for("jupyter_server", project))).payload["status"] == "success"
    reads = requests_to(saturn_connection, "GET /api/workspaces/{id}")
    assert requests_to(saturn_connection, "GET /api/active/resources") == 0, "one wait: its own read is cheaper"
    assert reads <= (time.monotonic() - started) / INTERVAL + 2


async def test_a_cancelled_wait_leaves_the_others_waiting(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 1.0
    first, second = started_projects(client, 2)
    cancelled = asyncio.ensure_future(first_event(wait_for("jupyter_server", first)))
    going = asyncio.ensure_future(first_event(wait_for("jupyter_server", second)))
    await asyncio.sleep(INTERVAL * 2)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert (await going).payload["status"] == "success"


async def test_a_poller_with_no_waits_left_stops(saturn_connection, client) -> None:
    (project,) = started_projects(client, 1)
    await first_event(wait_for("jupyter_server", project))
    await asyncio.sleep(INTERVAL * 2)
    assert not any(_POLLERS.values()), "no poller is left running"
    requests = saturn_connection.config.stats.requests
    await asyncio.sleep(INTERVAL * 3)
    assert saturn_connection.config.stats.requests == requests, "and it reads nothing more"


async def test_a_resource_gone_from_the_active_list_is_read_on_its_own(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 0.6
    running = started_projects(client, 3)
    await asyncio.sleep(0.8)
    client.stop_jupyter_server(running[0])  # stopping, then stopped: off the list of active resources
    waits = [wait_for("jupyter_server", running[0], target="stopped")]
    waits += [wait_for("jupyter_server", project, target="stopped") for project in running[1:]]
    stop_the_others_later = asyncio.get_running_loop().call_later(
        1.0, lambda: [client.stop_jupyter_server(project) for project in running[1:]]
    )
    events = await asyncio.gather(*(first_event(wait) for wait in waits))
    stop_the_others_later.cancel()
    assert [event.payload["status"] for event in events] == ["success"] * 3
    assert requests_to(saturn_connection, "GET /api/workspaces/{id}") >= 1, "read on its own once off the list"


async def test_runs_of_one_job_share_one_read_of_its_runs(saturn_connection, client) -> None:
    job = client.create_job("shared-runs", "sleep 0.5")
    runs = [client.start_job(job["id"]) for _ in range(3)]
    before = requests_to(saturn_connection, "GET /api/jobs/{id}/runtimesummary")
    waits = [wait_for("job_run", job_run_key(job["id"], run["run_name"]), target="completed") for run in runs]
    started = time.monotonic()
    events = await asyncio.gather(*(first_event(wait) for wait in waits))
    assert [event.payload["status"] for event in events] == ["success"] * 3
    reads = requests_to(saturn_connection, "GET /api/jobs/{id}/runtimesummary") - before
    assert reads <= (time.monotonic() - started) / INTERVAL + 2, "one read a tick for the three runs"


async def test_an_outage_during_shared_polls_is_ridden_out(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 0.5
    ids = started_projects(client, 4)
    saturn_connection.set_faults(error_rate=1.0)
    loop = asyncio.get_running_loop()
    loop.call_later(1.5, saturn_connection.set_faults)
    waits = [wait_for("jupyter_server", project, retry={"max_attempts": 1}) for project in ids]
    events = await asyncio.gather(*(first_event(wait) for wait in waits))
    assert [event.payload["status"] for event in events] == ["success"] * 4
    assert saturn_connection.config.stats.faults.get("error", 0) >= 2


async def test_a_deadline_before_the_next_tick_is_kept(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 60
    (project,) = started_projects(client, 1)
    slow = SaturnStatusTrigger(
        resource_kind="jupyter_server",
        resource_id=project,
        target_status="running",
        deadline=time.time() + 0.5,
        poll_interval=30,
    )
    started = time.monotonic()
    event = (await first_event(slow)).payload
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 2, "the wait ends at its deadline, not at the next tick"


async def test_waits_that_start_together_look_their_connection_up_once(saturn_connection, client, monkeypatch) -> None:
    from airflow_provider_saturn.hooks import saturn as hook_module

    lookups: list[str] = []
    real_lookup = hook_module.async_connection_settings

    async def counted(conn_id: str) -> Any:
        lookups.append(conn_id)
        return await real_lookup(conn_id)

    monkeypatch.setattr(hook_module, "async_connection_settings", counted)
    ids = started_projects(client, 3)
    events = await asyncio.gather(*(first_event(wait_for("jupyter_server", project)) for project in ids * 10))
    assert [event.payload["status"] for event in events] == ["success"] * 30
    assert lookups == ["saturn_default"], "thirty waits, one lookup"


async def test_a_failed_connection_lookup_is_not_kept(saturn_connection, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SATURN_DEFAULT")
    first = (await first_event(wait_for("jupyter_server", "a" * 32))).payload
    assert first["status"] == "error" and "saturn_default" in first["message"]
    connection = {"conn_type": "saturn", "host": saturn_connection.url, "password": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
    second = (await first_event(wait_for("jupyter_server", "a" * 32))).payload
    assert "token was rejected" in second["message"], "looked up again, not the failure kept"


async def test_an_outage_brings_no_herd_of_reads_of_their_own(saturn_connection, client) -> None:
    """While Saturn's list fails, the waits poll on without a read each; a list that keeps failing is given up
    for reads of their own."""
    saturn_connection.state.transition_seconds = 0.3
    ids = started_projects(client, 6)
    saturn_connection.set_faults(error_rate=1.0)
    loop = asyncio.get_running_loop()
    loop.call_later(INTERVAL * 1.5, saturn_connection.set_faults)  # a short outage: two ticks at most
    waits = [wait_for("jupyter_server", project, retry={"max_attempts": 1}) for project in ids]
    events = await asyncio.gather(*(first_event(wait) for wait in waits))
    assert [event.payload["status"] for event in events] == ["success"] * 6
    # (A first tick that comes before every wait has asked may read the early ones on their own.)
    assert requests_to(saturn_connection, "GET /api/workspaces/{id}") <= 2, "no read of its own per wait"
