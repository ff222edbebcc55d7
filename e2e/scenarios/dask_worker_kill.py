"""j) A Celery worker dies (SIGKILL to its whole process tree) while a ``@task.saturn_dask`` function computes on
the project's Saturn Dask cluster; the retry connects again and computes the value on the same cluster.

DAG ``e2e_dask_worker_kill``: ``create_project`` (with a Dask cluster of two workers), ``start_dask`` (sync), then
``slow_total`` (``@task.saturn_dask``, ``retries=1``), whose function submits a computation that takes
``COMPUTE_SECONDS`` on a Dask worker and logs on which worker it runs, then ``stop_dask`` (``all_done``). The
emulator runs the cluster for real: a ``distributed`` scheduler and two workers, its child processes, mutual TLS.

The worker running ``slow_total`` is killed two seconds after the function logged that the cluster computes.
Expected: the retry runs on the other worker, gets a certificate of its own (Saturn signs a second CSR), connects
to the same scheduler and returns the value, computed by one of the cluster's Dask workers; the cluster was
started once and stayed up throughout (``running`` at the kill and in the retry; one scheduler process, the same
pid, and the same two workers in every sample of the emulator's processes, sampled every half second); the DAG's
stop ends it, after which no Dask process of the emulator is left and the cluster is ``stopped``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any

from e2e.deployment import Deployment, component_of
from e2e.emulator import DaskProcessWatch, DaskSample, Emulator, count
from e2e.evidence import Evidence
from e2e.scenarios.common import (
    describe_tries,
    kill_worker_running,
    requests_summary,
    run_id,
    stored,
    task_log_text,
    wait_retry_elsewhere,
)
from e2e.waiting import wait_for

KEY = "j"
TITLE = "@task.saturn_dask worker killed mid-compute"
DAG = "e2e_dask_worker_kill"
TASK = "slow_total"
PROJECT = "e2e-dask-worker-kill"
COMPUTE_SECONDS = 20  # as in the DAG
EXPECTED_TOTAL = sum(i * i for i in range(1000))  # the DAG's N
COMPUTING = re.compile(r"slow_total is computing on Dask worker (\S+) of scheduler (\S+) for")
KILL_AFTER = 2.0  # seconds into the computation
DASK_WORKERS = 2  # the DAG's cluster
ROUTES = [
    "POST /api/workspaces",
    "POST /api/dask_clusters",
    "POST /api/dask_clusters/{id}/start",
    "GET /api/dask_clusters/{id}/info",
    "POST /api/dask_clusters/{id}/csr",
    "POST /api/dask_clusters/{id}/stop",
]
EXPECTED = dict(zip(ROUTES, (1, 1, 1, 2, 2, 1), strict=True))


def log_events(deployment: Deployment, dag_id: str, run: str, task_id: str, attempt: int) -> list[str]:
    """The events (printed lines included) of one try's task log, in order; empty while there is none."""
    events = []
    for line in task_log_text(deployment, dag_id, run, task_id, attempt).splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            events.append(str(json.loads(line).get("event", "")))
    return events


def computing(deployment: Deployment, run: str, attempt: int) -> tuple[str, str] | None:
    """(Dask worker, scheduler) the try's function logged it computes on; ``None`` before it did."""
    for event in log_events(deployment, DAG, run, TASK, attempt):
        found = COMPUTING.search(event)
        if found:
            return found.group(1), found.group(2)
    return None


def cluster_status(saturn: Emulator) -> str | None:
    """The status of the project's Dask cluster, as Saturn (the emulator) says."""
    with saturn.client() as client:
        project = client.find_project_by_name(PROJECT)
        cluster_id = project and project.get("dask_cluster_id")
        return str(client.get_dask_cluster(cluster_id)["status"]) if cluster_id else None


def cluster_shape(sample: DaskSample) -> tuple[int, int]:
    """(schedulers, workers) in one sample."""
    return len(sample.pids("scheduler")), len(sample.pids("worker"))


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=2)
    wait_for(lambda: not saturn.dask_processes(), timeout=30, what="earlier Dask clusters' processes to end")
    watch = DaskProcessWatch(saturn).start()
    try:
        run = api.trigger(DAG, run_id("dask-worker-kill"))
        evidence.note(f"run {DAG}/{run}; the function's computation takes {COMPUTE_SECONDS}s on a Dask worker")
        first = wait_for(
            lambda: computing(deployment, run, 1), timeout=240, interval=0.5, what=f"{TASK} try 1 to compute"
        )
        time.sleep(KILL_AFTER)
        at_kill = watch.sample()
        status_at_kill = cluster_status(saturn)
        victim = kill_worker_running(
            deployment, evidence, DAG, run, TASK, f"{KILL_AFTER:.0f}s into the computation on Dask worker {first[0]}"
        )
        killed_at = time.monotonic()
        wait_retry_elsewhere(deployment, evidence, DAG, run, TASK, victim)
        second = wait_for(
            lambda: computing(deployment, run, 2), timeout=120, interval=0.5, what=f"{TASK} try 2 to compute"
        )
        retry_computing = time.monotonic()
        status_in_retry = cluster_status(saturn)
        final = api.wait_run(DAG, run, timeout=COMPUTE_SECONDS + 180)
        ended = time.monotonic()
        gone_after = saturn.dask_processes_gone(timeout=60)
    finally:
        watch.stop()
    samples = [*watch.samples, watch.sample()]  # the last one after the processes ended
    deployment.wait_worker_ready(victim, timeout=120)

    evidence.check(final["state"] == "success", f"the run ends {final['state']}")
    evidence.note(
        f"try 2 computed on the cluster {retry_computing - killed_at:.0f}s after the kill; the run ended "
        f"{ended - retry_computing:.0f}s later (its {COMPUTE_SECONDS}s computation, the stop)"
        + (f"; none of its Dask processes ran {gone_after:.1f}s after its end" if gone_after is not None else "")
    )
    tries, text = describe_tries(deployment, DAG, run, TASK)
    evidence.check(
        len(tries) == 2
        and component_of(tries[0]["hostname"]) == victim
        and component_of(tries[1]["hostname"]) not in (victim, "?")
        and tries[1]["state"] == "success",
        f"{TASK}: {text}",
    )
    value = stored(api.xcom(DAG, run, TASK, "return_value"))
    total, pid, scheduler = (_value(value, key) for key in ("total", "dask_worker_pid", "scheduler"))
    evidence.check(
        total == EXPECTED_TOTAL and pid in watch.seen("worker") and scheduler == first[1] == second[1],
        f"the task's return_value XCom (REST): total {total} (expected {EXPECTED_TOTAL}), computed by Dask worker "
        f"process {pid} of the emulator's cluster, on scheduler {scheduler}; try 1 computed on {first[0]} of "
        f"{first[1]}, try 2 on {second[0]} of {second[1]}",
    )

    stats = saturn.stats()
    evidence.note(f"Saturn requests: {requests_summary(stats, ROUTES)}")
    seen = {route: count(stats, route) for route in ROUTES}
    evidence.check(
        seen == EXPECTED,
        "Saturn saw one project, one cluster, one start, one stop, and two connections (info + CSR) for two tries"
        + ("" if seen == EXPECTED else f"; differing (seen): {seen}"),
    )
    _check_processes(evidence, samples, at_kill, (status_at_kill, status_in_retry), gone_after, killed_at)
    evidence.check(cluster_status(saturn) == "stopped", f"the cluster ends {cluster_status(saturn)}")


def _check_processes(
    evidence: Evidence,
    samples: list[DaskSample],
    at_kill: DaskSample,
    statuses: tuple[str | None, str | None],
    gone_after: float | None,
    killed_at: float,
) -> None:
    """One scheduler and the same two workers in every sample from the cluster's start to its stop, running at the
    kill and in the retry; none left after the stop."""
    live = [sample for sample in samples if sample.processes]
    schedulers = {pid for sample in live for pid in sample.pids("scheduler")}
    workers = {pid for sample in live for pid in sample.pids("worker")}
    shapes = {cluster_shape(sample) for sample in live}
    # Each cluster process starts and ends on its own: at the edges a sample may hold only some of them.
    whole = [sample for sample in live if cluster_shape(sample) == (1, DASK_WORKERS)]
    span = (whole[-1].at - whole[0].at) if whole else 0.0
    after_kill = [sample for sample in whole if sample.at > killed_at]
    evidence.check(
        len(schedulers) == 1
        and len(workers) == DASK_WORKERS
        and cluster_shape(at_kill) == (1, DASK_WORKERS)
        and bool(after_kill)
        and statuses == ("running", "running"),
        f"the cluster stayed up: one scheduler process (pid {sorted(schedulers)}) and the same workers (pids "
        f"{sorted(workers)}) in every sample, {len(whole)} of the whole cluster over {span:.0f}s, "
        f"{len(after_kill)} of them after the kill ({len(live) - len(whole)} partial, as it started or stopped; "
        f"(schedulers, workers) seen: {sorted(shapes)}); status {statuses[0]} at the kill, {statuses[1]} during "
        "the retry",
    )
    evidence.check(
        gone_after is not None and not samples[-1].processes,
        "no Dask process of the emulator left after the run ended (stop_dask)"
        if gone_after is not None
        else "Dask processes of the emulator still run 60s after the run ended",
    )


def _value(value: Any, key: str) -> Any:
    """One entry of the function's value (``None`` when it is not a dict)."""
    return value.get(key) if isinstance(value, dict) else None
