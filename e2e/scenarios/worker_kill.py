"""b) A Celery worker dies (SIGKILL to its whole process tree: Celery, its pool, the task's supervisor and process)
during a create and, later, during a sync ``SaturnStartJupyterOperator`` wait.

DAG ``e2e_worker_kill``: ``create_project`` (with a Dask cluster) then ``start_jupyter`` (sync). Saturn is slowed
down (every request takes 4 s) while the create runs, and the worker running it is killed while the create's
last request is in flight, after Saturn has made the project and its cluster. The start's worker is killed while
it polls a workspace that takes 50 s to come up. After each kill the scheduler finds the task without a heartbeat
and retries it; the killed worker comes back only once the retry runs elsewhere.

Expected: each retry runs on the other worker and succeeds (the create's retry, with ``if_exists="fail"``, knows
the project as its own from the task state store); Saturn saw one project create, one cluster create,
one start and no stop; the project ends running with its cluster stopped (what the DAG asked for, nothing more);
none of the killed processes is left.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment, component_of
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import (
    describe_tries,
    kill_worker_running,
    requests_summary,
    run_id,
    wait_retry_elsewhere,
)
from e2e.waiting import wait_for

KEY = "b"
TITLE = "worker killed mid-create and mid-wait"
DAG = "e2e_worker_kill"
PROJECT = "e2e-worker-kill"
LATENCY = 4.0  # seconds added to each Saturn request while the create runs
TRANSITION = 50.0  # how long the workspace takes to start
ROUTES = [
    "POST /api/workspaces",
    "POST /api/dask_clusters",
    "POST /api/workspaces/{id}/start",
    "POST /api/workspaces/{id}/stop",
    "POST /api/dask_clusters/{id}/start",
    "POST /api/dask_clusters/{id}/stop",
]


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=TRANSITION)
    saturn.faults(latency=LATENCY)
    run = api.trigger(DAG, run_id("worker-kill"))
    evidence.note(f"run {DAG}/{run}; Saturn answers each request after {LATENCY:.0f}s during the create")

    # 1. During the create: its cluster is made and it re-reads the project (GET by id), in flight for 4 s.
    wait_for(
        lambda: count(saturn.stats(), "GET /api/workspaces/{id}") >= 1,
        timeout=120,
        interval=0.1,
        what="create_project to re-read the project it made",
    )
    first = kill_worker_running(
        deployment, evidence, DAG, run, "create_project", "while it read back the project it made"
    )
    saturn.faults()  # Saturn at full speed again
    wait_retry_elsewhere(deployment, evidence, DAG, run, "create_project", first)

    # 2. During the sync start's wait: the workspace is pending for 50 s and the task polls it every second.
    wait_for(
        lambda: count(saturn.stats(), "POST /api/workspaces/{id}/start") >= 1,
        timeout=120,
        interval=0.2,
        what="start_jupyter to start the workspace",
    )
    deployment.wait_worker_ready(first, timeout=120)  # so that the next kill leaves a worker to retry on
    time.sleep(3)  # a few polls into the wait
    second = kill_worker_running(deployment, evidence, DAG, run, "start_jupyter", "while it waited for the workspace")
    wait_retry_elsewhere(deployment, evidence, DAG, run, "start_jupyter", second)

    final = api.wait_run(DAG, run, timeout=TRANSITION + 120)
    deployment.wait_worker_ready(second, timeout=120)
    stats = saturn.stats()
    evidence.check(final["state"] == "success", f"the run ends {final['state']}")
    for task_id in ("create_project", "start_jupyter"):
        tries, text = describe_tries(deployment, DAG, run, task_id)
        hosts = [component_of(t["hostname"]) for t in tries]
        evidence.check(
            len(tries) == 2 and hosts[0] != hosts[1] and tries[-1]["state"] == "success",
            f"{task_id}: {text}",
        )
    evidence.note(f"Saturn requests: {requests_summary(stats, ROUTES)}")
    expected = {ROUTES[0]: 1, ROUTES[1]: 1, ROUTES[2]: 1, ROUTES[3]: 0, ROUTES[4]: 0, ROUTES[5]: 0}
    seen = {route: count(stats, route) for route in expected}
    evidence.check(seen == expected, "Saturn saw exactly one create, one cluster create, one start and no stop")
    with saturn.client() as client:
        projects = client.list_projects()
        cluster = client.get_dask_cluster(projects[0]["dask_cluster_id"]) if len(projects) == 1 else None
    evidence.check(
        [(p["name"], p["status"]) for p in projects] == [(PROJECT, "running")]
        and cluster is not None
        and cluster["status"] == "stopped",
        f"Saturn ends with {[(p['name'], p['status']) for p in projects]}, its Dask cluster "
        f"{cluster and cluster['status']}: what the DAG wants running, and nothing else",
    )
