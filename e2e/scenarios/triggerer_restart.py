"""c) The triggerer is restarted (SIGTERM, then started again) while two deferred starts wait in it.

DAG ``e2e_triggerer_restart``: ``resumes`` (timeout 5 minutes) and ``deadline_passes`` (timeout 30 s) start one
workspace each; the workspaces take 75 s to come up. The triggerer is stopped once both triggers run in it (a
graceful stop can take Airflow's triggerer up to 10 s: it waits that long for its trigger runner), and stays
down until ``deadline_passes``'s deadline is 5 s behind.

Expected: ``resumes`` is taken up by the new triggerer job and succeeds, and nothing stopped its workspace (a
triggerer's shutdown is not a kill); ``deadline_passes`` fails on its first poll in the new triggerer, with the
deadline it was deferred with (read from the trigger table), and the workspace it started is stopped.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.metadb import TriggerRow
from e2e.scenarios.common import (
    TriggerLogRecord,
    deadline_of,
    requests_summary,
    run_id,
    running_triggers,
    trigger_started_and_fired,
    utc,
)

KEY = "c"
TITLE = "triggerer restarted mid-wait"
DAG = "e2e_triggerer_restart"
POLL_INTERVAL = 2.0
TRANSITION = 75.0
DOWN_AFTER_DEADLINE = 5.0
TASKS = ("resumes", "deadline_passes")
START = "POST /api/workspaces/{id}/start"
STOP = "POST /api/workspaces/{id}/stop"


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    ids = {task_id: saturn.seed(1, f"e2e-{task_id.replace('_', '-')}")[0] for task_id in TASKS}
    run = api.trigger(DAG, run_id("triggerer-restart"), conf=ids)
    evidence.note(f"run {DAG}/{run}; workspaces {ids}")

    rows = running_triggers(deployment, DAG, run, TASKS)
    old_job = rows["resumes"].triggerer_id
    deadline = deadline_of(rows["deadline_passes"])
    evidence.require(deadline is not None, f"deadline_passes's trigger {rows['deadline_passes'].id} has a deadline")
    assert deadline is not None
    evidence.note(
        f"triggers {rows['resumes'].id} (resumes) and {rows['deadline_passes'].id} (deadline_passes) run in "
        f"triggerer job {old_job}; deadline_passes's deadline {utc(deadline)}"
    )

    took = deployment.stop("triggerer")
    stopped_at = time.time()
    evidence.require(
        stopped_at < deadline,
        f"triggerer stopped (SIGTERM, exited in {took:.1f}s) {deadline - stopped_at:.0f}s before that deadline",
    )
    time.sleep(max(0.0, deadline + DOWN_AFTER_DEADLINE - time.time()))
    deployment.start("triggerer")
    new_job = deployment.wait_triggerer_alive(timeout=120, newer_than=int(old_job or 0))
    evidence.note(f"triggerer down {time.time() - stopped_at:.0f}s; started again as job {new_job['id']}")

    final = api.wait_run(DAG, run, timeout=TRANSITION + 120)
    stats = saturn.stats()
    states = api.task_states(DAG, run)
    evidence.check(states == {"resumes": "success", "deadline_passes": "failed"}, f"task states {states}")
    evidence.note(f"the run ends {final['state']}")

    started, fired = trigger_started_and_fired(deployment, rows["resumes"])
    evidence.check(
        [entry.triggerer_job for entry in started] == [old_job, new_job["id"]]
        and [entry.triggerer_job for entry in fired] == [new_job["id"]]
        and "'status': 'success'" in str(fired[0].record.get("result")),
        f"resumes: trigger {rows['resumes'].id} started in triggerer jobs {[e.triggerer_job for e in started]}, "
        f"fired success in {[e.triggerer_job for e in fired]}",
    )
    _check_deadline(
        evidence, rows["deadline_passes"], deadline, *trigger_started_and_fired(deployment, rows["deadline_passes"])
    )

    evidence.note(f"Saturn requests: {requests_summary(stats, [START, STOP])}")
    resumed, timed_out = (saturn.workspace(ids[task_id])["status"] for task_id in TASKS)
    evidence.check(
        count(stats, START) == 2
        and count(stats, STOP) == 1
        and resumed == "running"
        and timed_out in ("stopping", "stopped"),
        f"Saturn: resumes's workspace {resumed} (never stopped: a triggerer shutdown is no kill); "
        f"deadline_passes's workspace {timed_out} (stopped after its timeout, as it started it)",
    )


def _check_deadline(
    evidence: Evidence,
    row: TriggerRow,
    deadline: float,
    started: list[TriggerLogRecord],
    fired: list[TriggerLogRecord],
) -> None:
    """deadline_passes fired a timeout on its first poll after the restart, naming the deadline it was given."""
    result = str(fired[0].record.get("result")) if fired else ""
    resumed = [entry for entry in started if entry.triggerer_job != started[0].triggerer_job] if started else []
    delay = (fired[0].time - resumed[0].time).total_seconds() if fired and resumed else None
    evidence.check(
        len(fired) == 1
        and "'status': 'timeout'" in result
        and f"deadline {utc(deadline)}" in result
        and delay is not None
        and delay < POLL_INTERVAL,
        f"deadline_passes: trigger {row.id} fired 'timeout' in triggerer job "
        f"{fired[0].triggerer_job if fired else None}, {delay if delay is None else round(delay, 2)}s after it "
        f"started there (first poll; poll interval {POLL_INTERVAL:.0f}s), message names the original deadline "
        f"{utc(deadline)}: {'yes' if f'deadline {utc(deadline)}' in result else 'no: ' + result[:300]}",
    )
