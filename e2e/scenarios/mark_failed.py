"""d) A user marks deferred starts failed through the REST API (what "Mark as failed" in the UI does).

DAG ``e2e_mark_failed`` (poll interval 5 s): ``started_here`` starts a stopped workspace and defers;
``already_pending`` finds its workspace already starting (the harness started it) and defers without starting it.
Both workspaces take two minutes to come up, so both waits are still going when they are marked failed.

Expected, on Airflow 3.3 (which calls a trigger's ``on_kill`` when a user ends its task): Saturn gets a stop for
``started_here``'s workspace within one poll interval of the mark, and none for ``already_pending``'s, which
keeps starting (it was running, so to speak, before the task).
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import run_id, running_triggers, trigger_log
from e2e.waiting import WaitTimeout, wait_for

KEY = "d"
TITLE = "deferred start marked failed by a user"
DAG = "e2e_mark_failed"
POLL_INTERVAL = 5.0
TRANSITION = 120.0
STOP = "POST /api/workspaces/{id}/stop"
TASKS = ("started_here", "already_pending")


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    ids = {
        "started_here": saturn.seed(1, "e2e-started-here")[0],
        "already_pending": saturn.seed(1, "e2e-already-pending", start=True)[0],
    }
    run = api.trigger(DAG, run_id("mark-failed"), conf=ids)
    rows = running_triggers(deployment, DAG, run, TASKS)
    evidence.note(
        f"run {DAG}/{run}: both starts deferred (triggers {rows['started_here'].id}, {rows['already_pending'].id}); "
        f"Saturn starts so far: {count(saturn.stats(), 'POST /api/workspaces/{id}/start')} (started_here's only)"
    )

    stops_before = count(saturn.stats(), STOP)
    marked = time.monotonic()
    api.set_task_state(DAG, run, "started_here", "failed")
    try:
        wait_for(
            lambda: count(saturn.stats(), STOP) > stops_before,
            timeout=4 * POLL_INTERVAL,
            interval=0.1,
            what="Saturn to get a stop",
        )
        delay: float | None = time.monotonic() - marked
    except WaitTimeout:
        delay = None
    status = saturn.workspace(ids["started_here"])["status"]
    evidence.check(
        delay is not None and delay <= POLL_INTERVAL and status in ("stopping", "stopped"),
        "started_here marked failed: Saturn got its stop "
        + (f"{delay:.1f}s later" if delay is not None else f"not within {4 * POLL_INTERVAL:.0f}s")
        + f" (allowed: one poll interval, {POLL_INTERVAL:.0f}s); its workspace is {status}",
    )
    _note_trigger_log(deployment, evidence, run, "started_here")

    stops_before = count(saturn.stats(), STOP)
    api.set_task_state(DAG, run, "already_pending", "failed")
    time.sleep(2 * POLL_INTERVAL)
    stops = count(saturn.stats(), STOP) - stops_before
    status = saturn.workspace(ids["already_pending"])["status"]
    evidence.check(
        stops == 0 and status in ("pending", "running"),
        f"already_pending marked failed: {stops} stop(s) in the next {2 * POLL_INTERVAL:.0f}s; its workspace, "
        f"started before the task, is still {status}",
    )
    _note_trigger_log(deployment, evidence, run, "already_pending")
    final = api.wait_run(DAG, run, timeout=60)
    evidence.check(
        api.task_states(DAG, run) == dict.fromkeys(TASKS, "failed"),
        f"both tasks end failed; the run ends {final['state']}",
    )


def _note_trigger_log(deployment: Deployment, evidence: Evidence, run: str, task_id: str) -> None:
    """What the triggerer wrote about the kill: Airflow's on_kill line and the provider's own."""
    wanted = ("cancelled by user action", "after the task was killed", "Could not stop")
    lines = [e.event for e in trigger_log(deployment, DAG, run, task_id) if any(w in e.event for w in wanted)]
    evidence.note(f"{task_id}'s trigger log: {lines or 'no on_kill lines'}")
