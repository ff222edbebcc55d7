"""g) Saturn goes down (every API request answered 503) for 60 s while a deferred and a sync start wait.

DAG ``e2e_saturn_outage``: ``deferred_start`` (in the triggerer) and ``sync_start`` (in a worker), poll interval 2 s,
timeout 5 minutes, no task retries. The workspaces come up 20 s after their start, in the middle of the outage.

Expected: both tasks ride the outage out in their first try and succeed once Saturn answers again; Saturn saw one
start of each and no stop, and both workspaces end running. The evidence counts the 503s served and the
"polling on" warnings each wait logged.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import run_id, running_triggers, task_log_text, trigger_log
from e2e.waiting import wait_for

KEY = "g"
TITLE = "Saturn outage (100% 503 for 60 s)"
DAG = "e2e_saturn_outage"
OUTAGE = 60.0
TRANSITION = 20.0
TASKS = ("deferred_start", "sync_start")
READ = "GET /api/workspaces/{id}"


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    ids = {"deferred": saturn.seed(1, "e2e-outage-deferred")[0], "sync": saturn.seed(1, "e2e-outage-sync")[0]}
    run = api.trigger(DAG, run_id("saturn-outage"), conf=ids)
    row = running_triggers(deployment, DAG, run, ("deferred_start",))["deferred_start"]
    wait_for(
        lambda: (
            api.task_states(DAG, run).get("sync_start") == "running"
            and count(saturn.stats(), "POST /api/workspaces/{id}/start") == 2
        ),
        timeout=120,
        interval=0.5,
        what="sync_start to start its workspace and wait",
    )
    time.sleep(2)  # a poll or two into both waits
    before = saturn.stats()
    saturn.faults(error_rate=1.0)
    began = time.monotonic()
    time.sleep(OUTAGE)
    during = saturn.stats()
    saturn.faults()
    evidence.note(
        f"run {DAG}/{run}: deferred_start waits in trigger {row.id}, sync_start in a worker; Saturn down for "
        f"{time.monotonic() - began:.0f}s: {during['faults'].get('error', 0)} requests answered 503 "
        f"({count(during, READ) - count(before, READ)} status reads)"
    )
    final = api.wait_run(DAG, run, timeout=TRANSITION + 120)
    stats = saturn.stats()
    tis = {ti["task_id"]: ti for ti in api.task_instances(DAG, run)}
    evidence.check(
        final["state"] == "success"
        and all(tis[task]["state"] == "success" and tis[task]["try_number"] == 1 for task in TASKS),
        f"the run ends {final['state']}; "
        + ", ".join(f"{task} {tis[task]['state']} in try {tis[task]['try_number']}" for task in TASKS),
    )
    deferred_warnings = [e for e in trigger_log(deployment, DAG, run, "deferred_start") if "polling on" in e.event]
    sync_warnings = _task_log_count(deployment, run, "sync_start", "polling on")
    evidence.check(
        bool(deferred_warnings) and sync_warnings > 0,
        f"both waits polled through the outage: {len(deferred_warnings)} 'polling on' warnings in the trigger's log, "
        f"{sync_warnings} in sync_start's task log",
    )
    statuses = {name: saturn.workspace(workspace)["status"] for name, workspace in ids.items()}
    evidence.check(
        count(stats, "POST /api/workspaces/{id}/start") == 2
        and count(stats, "POST /api/workspaces/{id}/stop") == 0
        and set(statuses.values()) == {"running"},
        f"Saturn: start x{count(stats, 'POST /api/workspaces/{id}/start')}, "
        f"stop x{count(stats, 'POST /api/workspaces/{id}/stop')}; workspaces {statuses}",
    )


def _task_log_count(deployment: Deployment, run: str, task_id: str, text: str) -> int:
    """How many lines of the task's first try's log hold ``text``."""
    return sum(text in line for line in task_log_text(deployment, DAG, run, task_id, 1).splitlines())
