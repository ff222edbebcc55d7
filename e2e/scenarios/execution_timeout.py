"""e) A deferred start whose ``execution_timeout`` (15 s) is shorter than the wait (the workspace takes 60 s).

DAG ``e2e_execution_timeout``: one ``SaturnStartJupyterOperator``, ``deferrable=True``, poll interval 2 s, its own
``timeout`` left at the default (30 minutes), ``execution_timeout=15 s``.

Expected: the task fails (about when its ``execution_timeout`` runs out, not when Saturn finishes starting), and
the workspace it started does not keep running: Saturn gets a stop and the workspace ends ``stopping`` or
``stopped``. Airflow itself calls no ``on_kill`` here, so the operator must keep its own deadline inside
``execution_timeout`` and stop what it started when that deadline passes.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import deadline_of, parse_api_time, run_id, running_triggers, utc
from e2e.waiting import WaitTimeout, wait_for

KEY = "e"
TITLE = "execution_timeout shorter than the wait"
DAG = "e2e_execution_timeout"
TASK = "start_jupyter"
EXECUTION_TIMEOUT = 15.0
TRANSITION = 60.0
POLL_INTERVAL = 2.0
SLACK = 20.0  # resuming on a worker after the trigger's event, on a busy 2-core machine


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    workspace = saturn.seed(1, "e2e-execution-timeout")[0]
    run = api.trigger(DAG, run_id("execution-timeout"), conf={"workspace": workspace})
    row = running_triggers(deployment, DAG, run, (TASK,))[TASK]
    ti = api.task_instance(DAG, run, TASK)
    began = parse_api_time(ti["start_date"]) or time.time()
    deadline = deadline_of(row)
    evidence.note(
        f"run {DAG}/{run}: {TASK} deferred (trigger {row.id}); the trigger's deadline is "
        f"{utc(deadline) if deadline else 'unknown'}, "
        f"{(deadline - began) if deadline else float('nan'):.0f}s after the task started; execution_timeout "
        f"{EXECUTION_TIMEOUT:.0f}s, Saturn needs {TRANSITION:.0f}s"
    )
    ended = api.wait_task(DAG, run, TASK, {"success", "failed", "up_for_retry"}, timeout=TRANSITION + 90)
    took = (parse_api_time(ended["end_date"]) or time.time()) - began
    evidence.check(
        ended["state"] == "failed" and took <= EXECUTION_TIMEOUT + SLACK,
        f"the task ends {ended['state']} {took:.0f}s after it started (expected: failed, by "
        f"execution_timeout + {SLACK:.0f}s = {EXECUTION_TIMEOUT + SLACK:.0f}s)",
    )
    try:
        status = wait_for(
            lambda: (s := saturn.workspace(workspace)["status"]) in ("stopping", "stopped") and s,
            timeout=2 * POLL_INTERVAL,
            interval=0.5,
            what="the workspace to be stopped",
        )
    except WaitTimeout:
        status = saturn.workspace(workspace)["status"]
    stats = saturn.stats()
    final = api.wait_run(DAG, run, timeout=60)
    evidence.note(f"the run ends {final['state']}")
    evidence.check(
        status in ("stopping", "stopped") and count(stats, "POST /api/workspaces/{id}/stop") == 1,
        f"the workspace the task started is {status} "
        f"(Saturn: start x{count(stats, 'POST /api/workspaces/{id}/start')}, "
        f"stop x{count(stats, 'POST /api/workspaces/{id}/stop')})",
    )
