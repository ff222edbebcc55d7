"""f) The scheduler is killed (SIGKILL: a crash) in the middle of a run, and started again.

DAG ``e2e_scheduler_restart``: create a project with a Dask cluster, then start its Jupyter server (deferred) and
its cluster (sync) side by side, then stop both. The scheduler is killed while both starts wait, and stays down
until both waits are over (the trigger has fired, the sync start has finished), so that the new scheduler must
take the run from there: resume the deferred start, and schedule the stops.

Expected: the run completes, every task in one try; Saturn saw one create, one start and one stop of each, and
ends with both stopped.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment, hostname_of
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import requests_summary, run_id
from e2e.waiting import wait_for

KEY = "f"
TITLE = "scheduler killed and restarted mid-run"
DAG = "e2e_scheduler_restart"
TRANSITION = 15.0
ROUTES = [
    "POST /api/workspaces",
    "POST /api/dask_clusters",
    "POST /api/workspaces/{id}/start",
    "POST /api/dask_clusters/{id}/start",
    "POST /api/dask_clusters/{id}/stop",
    "POST /api/workspaces/{id}/stop",
]
TASKS = ("create_project", "start_jupyter", "start_dask", "stop_dask", "stop_jupyter")


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    run = api.trigger(DAG, run_id("scheduler-restart"))
    wait_for(
        lambda: (
            api.task_states(DAG, run).get("start_jupyter") == "deferred"
            and api.task_states(DAG, run).get("start_dask") == "running"
            and count(saturn.stats(), "POST /api/dask_clusters/{id}/start") == 1
        ),
        timeout=120,
        interval=0.5,
        what="start_jupyter to defer and start_dask to wait",
    )
    old = _running_scheduler(deployment, newer_than=0)
    evidence.require(old is not None, "a scheduler job is running")
    assert old is not None
    pids = deployment.kill("scheduler")
    killed_at = time.monotonic()
    evidence.note(
        f"run {DAG}/{run}: killed scheduler job {old} (SIGKILL to {len(pids)} processes) while start_jupyter was "
        "deferred and start_dask waited in a worker"
    )
    wait_for(
        lambda: (
            api.task_states(DAG, run).get("start_dask") == "success"
            and api.task_states(DAG, run).get("start_jupyter") in ("scheduled", "queued", "success")
        ),
        timeout=TRANSITION + 90,
        interval=0.5,
        what="both waits to end while the scheduler is down",
        describe=lambda: f"task states {api.task_states(DAG, run)}",
    )
    states_while_down = api.task_states(DAG, run)
    deployment.start("scheduler")
    new = wait_for(lambda: _running_scheduler(deployment, newer_than=old), timeout=120, what="a new scheduler job")
    evidence.note(
        f"scheduler down {time.monotonic() - killed_at:.0f}s; meanwhile: start_jupyter "
        f"{states_while_down['start_jupyter']}, start_dask {states_while_down['start_dask']}; new scheduler job {new}"
    )
    final = api.wait_run(DAG, run, timeout=180)
    stats = saturn.stats()
    tries = {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in api.task_instances(DAG, run)}
    evidence.check(
        final["state"] == "success" and tries == dict.fromkeys(TASKS, ("success", 1)),
        f"the run ends {final['state']}; tasks (state, try): {tries}",
    )
    evidence.note(f"Saturn requests: {requests_summary(stats, ROUTES)}")
    evidence.check(all(count(stats, route) == 1 for route in ROUTES), "Saturn saw each create, start and stop once")
    with saturn.client() as client:
        projects = client.list_projects()
        cluster = client.get_dask_cluster(projects[0]["dask_cluster_id"]) if len(projects) == 1 else None
    evidence.check(
        [p["status"] for p in projects] == ["stopped"] and cluster is not None and cluster["status"] == "stopped",
        f"Saturn ends with the project {[p['status'] for p in projects]} and its cluster "
        f"{cluster and cluster['status']}",
    )


def _running_scheduler(deployment: Deployment, newer_than: int) -> int | None:
    for job in deployment.api.jobs("SchedulerJob"):
        if job["state"] == "running" and job["id"] > newer_than and job["hostname"] == hostname_of("scheduler"):
            return int(job["id"])
    return None
