"""Start a Saturn workspace and its Dask cluster before a job, and stop both after, whatever happened.

Shows: ``SaturnCreateProjectOperator`` with ``if_exists="reuse"`` and an attached Dask cluster, deferrable
starts (the waits run in the triggerer, not in a worker slot), a job step that uses the cluster, and
stops with trigger rule ``all_done`` so nothing is left running when the job fails (a watcher task then
fails the run, which the successful stops would otherwise mark a success).

The clean-up pattern: when the create itself fails, the project id the stops pull renders to ``None``;
being clean-up tasks (``all_done``), they then skip without a request, and the watcher fails the run. A
start that fails after starting its resource stops it itself (``stop_on_failure``, default True).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStartJupyterOperator,
    SaturnStopDaskClusterOperator,
    SaturnStopJupyterOperator,
)

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

# Saturn asks for no more than one status read per workspace every 10 s; the demo polls the emulator faster.
POLL_INTERVAL = float(os.environ.get("SATURN_EXAMPLE_POLL_INTERVAL", "10"))
PROJECT = "{{ ti.xcom_pull(task_ids='create_or_reuse_project', key='project_id') }}"

with DAG(
    dag_id="saturn_workspace_before_job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
    default_args={"retries": 0},
) as dag:
    project = SaturnCreateProjectOperator(
        task_id="create_or_reuse_project",
        name="features-nightly",
        if_exists="reuse",
        description="Feature pipeline, run by Airflow",
        jupyter_size="large",
        jupyter_auto_shutoff="1 hour",
        dask_cluster={"n_workers": 2, "worker_size": "xlarge", "scheduler_size": "medium"},
    )
    start_jupyter = SaturnStartJupyterOperator(
        task_id="start_jupyter",
        jupyter_server_id=PROJECT,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=20),
    )
    start_dask = SaturnStartDaskClusterOperator(
        task_id="start_dask",
        project_id=PROJECT,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=20),
    )

    @task
    def run_job(cluster: dict) -> str:
        """The job: here it only reports the cluster; in Saturn, connect with dask-saturn's SaturnCluster."""
        print(f"Running the job on Dask cluster {cluster['id']} ({cluster['n_workers']} workers)")
        print(f"Scheduler at {cluster['scheduler_url']}, dashboard {cluster['url']}")
        return str(cluster["id"])

    job = run_job(start_dask.output)  # type: ignore[arg-type]  # an XComArg, resolved at run time

    stop_dask = SaturnStopDaskClusterOperator(
        task_id="stop_dask", project_id=PROJECT, trigger_rule="all_done", poll_interval=POLL_INTERVAL
    )
    stop_jupyter = SaturnStopJupyterOperator(
        task_id="stop_jupyter", jupyter_server_id=PROJECT, trigger_rule="all_done", poll_interval=POLL_INTERVAL
    )

    @task(trigger_rule="one_failed", retries=0)
    def fail_run_if_a_step_failed() -> None:
        """The stops succeed even after a failed job: this keeps the run from being marked a success."""
        raise RuntimeError("A step of the job failed; the workspace and cluster were stopped all the same.")

    project >> start_jupyter >> start_dask >> job >> stop_dask >> stop_jupyter
    [project, start_jupyter, start_dask, job] >> fail_run_if_a_step_failed()
