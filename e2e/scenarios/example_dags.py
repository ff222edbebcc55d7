"""a) The example DAGs, as shipped, on the real deployment: sync and deferred waits.

- ``saturn_workspace_before_job``: deferred starts (Jupyter, Dask), a ``@task.saturn_dask`` step that computes on
  the cluster (the emulator runs it for real: a ``distributed`` scheduler and two workers, mutual TLS) and a step
  that checks its result, sync stops;
- ``saturn_project_lifecycle``: create, update, a start that does not wait, a sensor in reschedule mode, a sync
  stop, a delete;
- ``saturn_job_pipeline``: a deferred deployment start and deferred job runs whose log is followed in the
  triggerer; one job fails on purpose, so the run ends ``failed`` by design.

Checked against Saturn (the emulator): what each DAG made, started, stopped and deleted, by request count and by
final state. Checked in Airflow: every task's state, and that each deferred wait ran in the triggerer: its row in
the trigger table (class, triggerer job) while deferred, and its start and its event in the triggerer's log. The
computation: its value, read through the REST API (the ``return_value`` XComs of ``total_of_features``, computed
by the cluster's two workers for a Celery worker's task, and of ``check_total``); the emulator's Dask processes
(a scheduler and two workers while the cluster ran, none once ``stop_dask`` stopped it), sampled every 0.5 s.
"""

from __future__ import annotations

import contextlib
import json

from e2e.deployment import Deployment, component_of, hostname_of
from e2e.emulator import DaskProcessWatch, count
from e2e.evidence import Evidence
from e2e.metadb import TriggerRow
from e2e.scenarios.common import (
    TRIGGER_CLASS,
    requests_summary,
    run_id,
    stored,
    task_log_folder,
    trigger_log,
    trigger_started_and_fired,
    watch_triggers,
)
from e2e.waiting import wait_for

KEY = "a"
TITLE = "example DAGs (sync + deferred)"

WORKSPACE_DAG = "saturn_workspace_before_job"
LIFECYCLE_DAG = "saturn_project_lifecycle"
JOB_DAG = "saturn_job_pipeline"
DEPLOYMENT = "features-api"

DESIGN = {
    WORKSPACE_DAG: (
        "success",
        {
            "create_or_reuse_project": "success",
            "start_jupyter": "success",
            "start_dask": "success",
            "total_of_features": "success",
            "check_total": "success",
            "stop_dask": "success",
            "stop_jupyter": "success",
            "fail_run_if_a_step_failed": "skipped",
        },
    ),
    LIFECYCLE_DAG: (
        "success",
        {
            "create_project": "success",
            "update_project": "success",
            "start_jupyter": "success",
            "wait_until_running": "success",
            "stop_jupyter": "success",
            "delete_project": "success",
        },
    ),
    JOB_DAG: (
        "failed",
        {
            "create_or_update_job": "success",
            "create_failing_job": "success",
            "start_deployment": "success",
            "run_job": "success",
            "run_failing_job": "failed",
            "stop_deployment": "success",
            "fail_run_if_a_step_failed": "failed",
        },
    ),
}
# The three DAGs run side by side; Saturn's counts are theirs together.
EXPECTED_REQUESTS = {
    "POST /api/workspaces": 2,  # features-nightly, lifecycle-demo
    "POST /api/dask_clusters": 1,
    "PATCH /api/workspaces/{id}": 1,  # update_project
    "POST /api/workspaces/{id}/start": 2,
    "POST /api/dask_clusters/{id}/start": 1,
    "POST /api/workspaces/{id}/stop": 2,
    "POST /api/dask_clusters/{id}/stop": 1,
    "GET /api/dask_clusters/{id}/info": 1,  # total_of_features connects: the scheduler's address,
    "POST /api/dask_clusters/{id}/csr": 1,  # and its client certificate
    "DELETE /api/workspaces/{id}": 1,
    "POST /api/jobs": 2,
    "POST /api/jobs/{id}/start": 2,
    "POST /api/deployments/{id}/start": 1,
    "POST /api/deployments/{id}/stop": 1,
}
DEFERRED_TASKS = {
    WORKSPACE_DAG: {"start_jupyter", "start_dask"},
    JOB_DAG: {"start_deployment", "run_job", "run_failing_job"},
}


ROWS = 1_000_000  # as in the DAG
COMPUTED = {"total": ROWS * (ROWS - 1) // 2, "workers": 2}  # what total_of_features returns
DASK_WORKERS = 2  # features-nightly's cluster


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset(transition_seconds=3)
    wait_for(lambda: not saturn.dask_processes(), timeout=30, what="earlier Dask clusters' processes to end")
    saturn.post("/api/deployments", {"name": DEPLOYMENT, "command": "python -m http.server 8000"})
    saturn.clear_stats()
    # With a logical date, as a scheduled run has: saturn_project_lifecycle renders {{ ds }}, which Airflow 3
    # leaves undefined in a run without one.
    runs = {dag_id: api.trigger(dag_id, run_id(dag_id), logical_date=True) for dag_id in DESIGN}
    evidence.note(f"runs: {', '.join(f'{dag}/{run}' for dag, run in runs.items())}")

    finished: dict[str, dict[str, object]] = {}

    def all_finished() -> bool:
        for dag_id, run in runs.items():
            if dag_id not in finished:
                state = api.dag_run(dag_id, run)
                if state["state"] in ("success", "failed"):
                    finished[dag_id] = state
        return len(finished) == len(runs)

    watch = DaskProcessWatch(saturn).start()
    try:
        triggers = watch_triggers(deployment, runs, until=all_finished, timeout=300)
    finally:
        watch.stop()
    stats = saturn.stats()
    evidence.require(len(finished) == len(runs), f"all three runs finished (got {sorted(finished)})")

    for dag_id, (run_state, tasks) in DESIGN.items():
        states = api.task_states(dag_id, runs[dag_id])
        evidence.check(
            finished[dag_id]["state"] == run_state and states == tasks,
            f"{dag_id} run {finished[dag_id]['state']} (designed: {run_state}); tasks as designed"
            + ("" if states == tasks else f": got {states}"),
        )

    evidence.note(f"Saturn requests: {requests_summary(stats, list(EXPECTED_REQUESTS))}")
    wrong = {
        route: (count(stats, route), expected)
        for route, expected in EXPECTED_REQUESTS.items()
        if count(stats, route) != expected
    }
    evidence.check(
        not wrong,
        "Saturn saw each create/update/start/stop/delete, and the cluster's info and CSR, exactly as often as the "
        "DAGs ask" + (f"; differing (seen, expected): {wrong}" if wrong else ""),
    )
    _check_saturn_state(deployment, evidence)
    _check_computation(deployment, evidence, runs[WORKSPACE_DAG], watch)
    _check_triggers(deployment, evidence, triggers)
    _check_job_log(deployment, evidence, runs[JOB_DAG])


def _check_computation(deployment: Deployment, evidence: Evidence, run: str, watch: DaskProcessWatch) -> None:
    """total_of_features computed on a real Dask cluster of the emulator, from a Celery worker: its value and
    check_total's (REST), the cluster's processes while it ran, and none left after stop_dask."""
    api = deployment.api
    value = stored(api.xcom(WORKSPACE_DAG, run, "total_of_features", "return_value"))
    checked = stored(api.xcom(WORKSPACE_DAG, run, "check_total", "return_value"))
    where = component_of(api.task_instance(WORKSPACE_DAG, run, "total_of_features")["hostname"])
    evidence.check(
        value == COMPUTED and checked == COMPUTED["total"] and where.startswith("worker-"),
        f"{WORKSPACE_DAG}.total_of_features ran on {where} and its return_value XCom (REST) is {value!r}; "
        f"check_total's is {checked!r}",
    )
    live = watch.with_processes()
    schedulers, workers = watch.seen("scheduler"), watch.seen("worker")
    span = (live[-1].at - live[0].at) if live else 0.0
    gone = deployment.emulator.dask_processes_gone(timeout=30)
    evidence.check(
        len(schedulers) == 1 and len(workers) == DASK_WORKERS and gone is not None,
        f"the emulator ran the cluster for real: scheduler pid {sorted(schedulers)} and worker pids "
        f"{sorted(workers)}, seen for {span:.0f}s in {len(live)} samples (every {watch.interval}s); "
        + ("no Dask process of the emulator left after stop_dask" if gone is not None else "Dask processes LEFT"),
    )


def _check_saturn_state(deployment: Deployment, evidence: Evidence) -> None:
    with deployment.emulator.client() as client:
        projects = {project["name"]: project for project in client.list_projects()}
        nightly = projects.get("features-nightly")
        cluster = (
            client.get_dask_cluster(nightly["dask_cluster_id"]) if nightly and nightly["dask_cluster_id"] else None
        )
        jobs = {job["name"]: client.list_job_runs(job["id"]) for job in client.list_jobs()}
        api_deployment = client.find_deployment_by_name(DEPLOYMENT)
    evidence.check(
        nightly is not None
        and nightly["status"] == "stopped"
        and cluster is not None
        and cluster["status"] == "stopped",
        "features-nightly and its Dask cluster end stopped"
        + (f" (Jupyter {nightly and nightly['status']}, Dask {cluster and cluster['status']})"),
    )
    evidence.check("lifecycle-demo" not in projects, "lifecycle-demo was deleted")
    statuses = {name: [run["status"] for run in runs] for name, runs in jobs.items()}
    evidence.check(
        statuses == {"features-refresh": ["completed"], "features-validate": ["error"]},
        f"one run per job: {statuses}",
    )
    evidence.check(
        api_deployment is not None and api_deployment["status"] == "stopped",
        f"deployment {DEPLOYMENT} ends {api_deployment and api_deployment['status']}",
    )


def _check_triggers(deployment: Deployment, evidence: Evidence, triggers: list[TriggerRow]) -> None:
    triggerer_jobs = {
        job["id"]: job for job in deployment.api.jobs("TriggererJob") if job["hostname"] == hostname_of("triggerer")
    }
    for dag_id, expected in DEFERRED_TASKS.items():
        by_task = {row.task_id: row for row in triggers if row.dag_id == dag_id and row.task_id}
        evidence.check(
            expected <= set(by_task),
            f"{dag_id}: a trigger row for each deferred task {sorted(expected)} (seen: {sorted(by_task)})",
        )
        for task_id in sorted(expected & set(by_task)):
            row = by_task[task_id]
            started, fired = trigger_started_and_fired(deployment, row)
            jobs = sorted({entry.triggerer_job for entry in started + fired})
            evidence.check(
                row.classpath == TRIGGER_CLASS
                and row.triggerer_id in triggerer_jobs
                and len(started) == 1
                and len(fired) == 1
                and jobs == [row.triggerer_id],
                f"{dag_id}.{task_id}: trigger {row.id} ({row.classpath.rsplit('.', 1)[-1]}) in the trigger table, "
                f"assigned to triggerer job {row.triggerer_id} ({hostname_of('triggerer')}); that triggerer's log "
                f"of it: started {len(started)}x, fired {len(fired)}x"
                + (f" ({fired[0].record.get('result', '')[:60]}...)" if fired else ""),
            )


def _check_job_log(deployment: Deployment, evidence: Evidence, run: str) -> None:
    """run_job's job run wrote five lines; each reached Airflow once, in order: those written while the
    operator waited for its first poll in its task log, the rest in the trigger's log, from the triggerer."""
    task_lines = []
    for path in sorted(task_log_folder(deployment, JOB_DAG, run, "run_job").glob("attempt=*.log")):
        if ".trigger." in path.name:
            continue  # the triggerer's, read below
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = str(json.loads(line).get("event", ""))
                if event.startswith("[job-"):
                    task_lines.append(event)
    trigger_lines = [e.event for e in trigger_log(deployment, JOB_DAG, run, "run_job") if e.event.startswith("[job-")]
    contents = [line.split("] ", 1)[-1] for line in task_lines + trigger_lines]
    evidence.check(
        contents == ["loading features", "1", "2", "3", "done"] and bool(trigger_lines),
        f"{JOB_DAG}.run_job: the job run's log lines reached Airflow once each, in order: {len(task_lines)} in the "
        f"task log, {len(trigger_lines)} from the triggerer in the trigger's log ({contents})",
    )
