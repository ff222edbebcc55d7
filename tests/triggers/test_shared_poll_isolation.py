"""The waits of one shared poller stand alone: a bad key or a failed read fails only the waits it answers, a slow
read holds up no other wait, and a wait's deadline is kept whatever the reads of others (or its own) do.

Real triggers against the emulator, and against a misbehaving server for reads that hang or drip.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.job_runs import job_run_key
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.harness import first_event
from tests.misbehaving_server import Answer, MisbehavingServer, Seen, misbehaving_server

INTERVAL = 0.2
TOKEN = "shared-poll-isolation-token"
# What "a deadline is kept within 1 s" promises: the event comes at most this long after the deadline, however
# long any read takes (the last read of its own at the deadline is cut at DEADLINE_READ_SECONDS).
DEADLINE_OVERSHOOT_BOUND = 1.0
REQUEST_TIMEOUT = 10.0  # far longer than any deadline below: only the wait's own bound can end it in time
QUICK = 5.0  # a wait answered by its own quick read, not after the slow one's REQUEST_TIMEOUT (start-up included)


def wait_for(
    kind: str, resource_id: str, target: str = "running", *, within: float = 20, **kwargs: Any
) -> SaturnStatusTrigger:
    return SaturnStatusTrigger(
        resource_kind=kind,
        resource_id=resource_id,
        target_status=target,
        deadline=time.time() + within,
        poll_interval=kwargs.pop("poll_interval", INTERVAL),
        **kwargs,
    )


async def timed_event(trigger: SaturnStatusTrigger) -> tuple[dict[str, Any], float]:
    """The trigger's first event, and how long after its deadline it came (negative: before)."""
    event = await first_event(trigger, limit=60)
    return event.payload, time.time() - trigger.deadline


SLOW, PENDING, READY = "5" * 32, "6" * 32, "7" * 32


def workspace(resource_id: str, status: str) -> Answer:
    return Answer.json({"id": resource_id, "name": "w", "status": status})


# --- 16: one bad key, or one failed read, fails only the waits it answers ---------------------------------------


async def test_a_bad_job_run_key_fails_only_its_own_wait(saturn_connection, client: SaturnClient) -> None:
    job = client.create_job("isolated-runs", "sleep 0.3")
    runs = [client.start_job(job["id"]) for _ in range(3)]
    healthy = [wait_for("job_run", job_run_key(job["id"], run["run_name"]), "completed") for run in runs]
    bad = wait_for("job_run", f"{job['id']}/a/b", "completed")
    events = await asyncio.gather(*(first_event(wait) for wait in [*healthy, bad]))
    payloads = [event.payload for event in events]
    assert [payload["status"] for payload in payloads[:3]] == ["success"] * 3, payloads
    assert payloads[3]["status"] == "error" and "job_run_id" in payloads[3]["message"], payloads[3]


async def test_a_bad_id_of_another_kind_fails_only_its_own_wait(saturn_connection, client: SaturnClient) -> None:
    projects = [client.create_project(f"isolated-{index}") for index in range(2)]
    for project in projects:
        client.start_jupyter_server(project["id"])
    healthy = [wait_for("jupyter_server", project["id"]) for project in projects]
    bad = [wait_for("jupyter_server", "a/b"), wait_for("dask_cluster", ".."), wait_for("deployment", "")]
    events = await asyncio.gather(*(first_event(wait) for wait in [*healthy, *bad]))
    payloads = [event.payload for event in events]
    assert [payload["status"] for payload in payloads] == ["success"] * 2 + ["error"] * 3, payloads
    assert all("not a usable Saturn id" in payload["message"] for payload in payloads[2:]), payloads


async def test_a_job_whose_read_fails_fails_only_its_own_waits(saturn_connection, client: SaturnClient) -> None:
    job = client.create_job("isolated-job", "sleep 0.3")
    runs = [client.start_job(job["id"]) for _ in range(2)]
    healthy = [wait_for("job_run", job_run_key(job["id"], run["run_name"]), "completed") for run in runs]
    gone = [wait_for("job_run", job_run_key("f" * 32, name), "completed") for name in ("run-1", "run-2")]
    events = await asyncio.gather(*(first_event(wait) for wait in [*healthy, *gone]))
    payloads = [event.payload for event in events]
    assert [payload["status"] for payload in payloads] == ["success"] * 2 + ["error"] * 2, payloads


async def test_two_tokens_on_one_url_never_answer_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same Saturn, same interval, same resource; another token: another poller, and its own answer."""

    def per_token(seen: Seen) -> Answer:
        if seen.headers.get("authorization", "").endswith(TOKEN):
            return workspace(READY, "running")
        return Answer.json({"detail": "not found"}, status=404)

    with misbehaving_server(per_token) as server:
        for conn_id, token in (("saturn_default", TOKEN), ("saturn_other", "another-token")):
            connection = {"conn_type": "saturn", "host": server.url, "password": token}
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        waits = [wait_for("jupyter_server", READY, saturn_conn_id=conn_id) for conn_id in ("saturn_default",) * 2]
        waits += [wait_for("jupyter_server", READY, saturn_conn_id="saturn_other") for _ in range(2)]
        events = await asyncio.gather(*(first_event(wait) for wait in waits))
    assert [event.payload["status"] for event in events] == ["success"] * 2 + ["error"] * 2, events


# --- 17: a slow read holds up no other wait, and every deadline is kept -----------------------------------------


async def test_a_wait_ending_at_its_deadline_leaves_the_others_on_its_resource(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 3
    project = client.create_project("isolated-deadline")
    client.start_jupyter_server(project["id"])
    short, long_ = wait_for("jupyter_server", project["id"], within=1.5), wait_for("jupyter_server", project["id"])
    (early, early_late), (later, _) = await asyncio.gather(timed_event(short), timed_event(long_))
    assert early["status"] == "timeout" and early_late < DEADLINE_OVERSHOOT_BOUND, (early, early_late)
    assert later["status"] == "success", later


def serving(slow: Answer) -> Callable[[Seen], Answer]:
    """Saturn with one slow workspace (``slow`` is how its read is answered), one pending, one running; an empty
    list of active resources, so that each is read on its own."""

    def respond(seen: Seen) -> Answer:
        if seen.path.startswith("/api/active/resources"):
            return Answer.json({"resources": []})
        if SLOW in seen.path:
            return slow
        if PENDING in seen.path:
            return workspace(PENDING, "pending")
        if READY in seen.path:
            return workspace(READY, "running")
        return Answer.json({"detail": "not found"}, status=404)

    return respond


HANG = Answer(hang=True)
DRIP = Answer(body=json.dumps({"id": SLOW, "name": "w", "status": "running"}).encode(), drip_seconds=0.5)


@pytest.fixture
def odd_saturn(monkeypatch: pytest.MonkeyPatch) -> Iterator[MisbehavingServer]:
    with misbehaving_server() as server:
        connection = {"conn_type": "saturn", "host": server.url, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
        yield server


def on_odd_saturn(resource_id: str, *, within: float, poll_interval: float = INTERVAL) -> SaturnStatusTrigger:
    """All of these share one poller: one connection, one request timeout and retry policy, one interval."""
    return wait_for(
        "jupyter_server",
        resource_id,
        within=within,
        poll_interval=poll_interval,
        timeout=REQUEST_TIMEOUT,
        retry={"max_attempts": 1},
    )


@pytest.mark.parametrize("slow", [HANG, DRIP], ids=["hangs", "drips"])
async def test_a_slow_read_holds_up_no_other_wait(odd_saturn: MisbehavingServer, slow: Answer) -> None:
    odd_saturn.respond = serving(slow)
    started = time.monotonic()
    slow_wait = asyncio.ensure_future(timed_event(on_odd_saturn(SLOW, within=4)))
    pending_wait = asyncio.ensure_future(timed_event(on_odd_saturn(PENDING, within=3)))
    ready, _ = await timed_event(on_odd_saturn(READY, within=20))
    assert ready["status"] == "success"
    assert time.monotonic() - started < QUICK, "answered as soon as its own read came, not after the slow one"
    pending, pending_late = await pending_wait
    assert pending["status"] == "timeout", pending
    assert pending_late < DEADLINE_OVERSHOOT_BOUND, f"the 3 s deadline overshot by {pending_late:.1f}s"
    _, slow_late = await slow_wait
    assert slow_late < DEADLINE_OVERSHOOT_BOUND, f"the slow wait's own deadline overshot by {slow_late:.1f}s"
    slow_reads = sum(1 for seen in odd_saturn.requests if SLOW in seen.path)
    assert slow_reads <= 2, "a read in flight is not sent again at each tick (one by the poll, one at the deadline)"


SLOW_JOB, QUICK_JOB = "8" * 32, "9" * 32


def serving_jobs(seen: Seen) -> Answer:
    """One job whose runs' read hangs, one whose run has completed, and the workspaces of :func:`serving`."""
    if f"/api/jobs/{SLOW_JOB}/" in seen.path:
        return HANG
    if f"/api/jobs/{QUICK_JOB}/" in seen.path:
        return Answer.json({"job_summaries": [{"name": "run-1", "status": "completed"}], "next_key": None})
    return serving(HANG)(seen)


async def test_a_slow_job_read_holds_up_no_other_wait(odd_saturn: MisbehavingServer) -> None:
    odd_saturn.respond = serving_jobs
    common: dict[str, Any] = {"timeout": REQUEST_TIMEOUT, "retry": {"max_attempts": 1}}
    started = time.monotonic()
    slow_wait = asyncio.ensure_future(
        timed_event(wait_for("job_run", job_run_key(SLOW_JOB, "run-1"), "completed", within=3, **common))
    )
    quick = [
        wait_for("job_run", job_run_key(QUICK_JOB, "run-1"), "completed", **common),
        wait_for("jupyter_server", READY, **common),
        wait_for("jupyter_server", READY, **common),
    ]
    events = await asyncio.gather(*(timed_event(wait) for wait in quick))
    assert [payload["status"] for payload, _ in events] == ["success"] * 3, events
    assert time.monotonic() - started < QUICK, "answered as soon as their own reads came, not after the slow one"
    slow, slow_late = await slow_wait
    assert slow["status"] == "timeout", slow
    assert slow_late < DEADLINE_OVERSHOOT_BOUND, f"the slow wait's deadline overshot by {slow_late:.1f}s"


@pytest.mark.parametrize("poll_interval", [INTERVAL, 30.0], ids=["tick-before-deadline", "tick-after-deadline"])
@pytest.mark.parametrize("slow", [HANG, DRIP], ids=["hangs", "drips"])
async def test_a_deadline_is_kept_when_its_own_reads_are_slow(
    odd_saturn: MisbehavingServer, slow: Answer, poll_interval: float
) -> None:
    odd_saturn.respond = serving(slow)
    payload, late = await timed_event(on_odd_saturn(SLOW, within=3, poll_interval=poll_interval))
    assert payload["status"] == "timeout", payload
    assert late < DEADLINE_OVERSHOOT_BOUND, f"the deadline overshot by {late:.1f}s"
    assert "deadline" in payload["message"]


def test_the_last_read_leaves_room_within_the_promise() -> None:
    from airflow_provider_saturn.client.poller import DEADLINE_READ_SECONDS

    assert 0 < DEADLINE_READ_SECONDS < DEADLINE_OVERSHOOT_BOUND
