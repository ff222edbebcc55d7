"""Start a Saturn workspace and its Dask cluster before a job, and stop both after, whatever happened.

Shows: ``SaturnCreateProjectOperator`` with ``if_exists="reuse"`` and an attached Dask cluster, deferrable
starts (the waits run in the triggerer, not in a worker slot), a job step that computes on the cluster
(``@task.saturn_dask``: a ``distributed.Client`` over Saturn's mutual TLS) and a step that checks its result,
and stops with trigger rule ``all_done`` so nothing is left running when the job fails (a watcher task then
fails the run, which the successful stops would otherwise mark a success).

The clean-up pattern: when the create itself fails, the project id the stops pull renders to ``None``;
being clean-up tasks (``all_done``), they then skip without a request, and the watcher fails the run. A
start that fails after starting its resource stops it itself (``stop_on_failure``, default True).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStartJupyterOperator,
    SaturnStopDaskClusterOperator,
    SaturnStopJupyterOperator,
)

if TYPE_CHECKING:
    from distributed import Client

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

# Saturn asks for no more than one status read per workspace every 10 s; the demo polls the emulator faster.
POLL_INTERVAL = float(os.environ.get("SATURN_EXAMPLE_POLL_INTERVAL", "10"))
PROJECT = "{{ ti.xcom_pull(task_ids='create_or_reuse_project', key='project_id') }}"
ROWS = 1_000_000

with DAG(
    dag_id="saturn_workspace_before_job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
    default_args={"retries": 0},
) as dag:
    # [START howto_operator_create_project_reuse]
    project = SaturnCreateProjectOperator(
        task_id="create_or_reuse_project",
        name="features-nightly",
        if_exists="reuse",
        description="Feature pipeline, run by Airflow",
        jupyter_size="large",
        jupyter_auto_shutoff="1 hour",
        dask_cluster={"n_workers": 2, "worker_size": "xlarge", "scheduler_size": "medium"},
    )
    # [END howto_operator_create_project_reuse]
    # [START howto_operator_start_jupyter_dask]
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
    # [END howto_operator_start_jupyter_dask]

    # [START howto_decorator_saturn_dask]
    @task.saturn_dask(project_id=PROJECT, connect_timeout=60)
    def total_of_features(rows: int, dask_client: Client) -> dict:
        """The job: a reduction computed on the project's Dask cluster, through the client it is given."""
        import dask.array as da

        features = da.arange(rows, chunks=rows // 10)
        return {"total": int(features.sum().compute()), "workers": len(dask_client.scheduler_info()["workers"])}

    # [END howto_decorator_saturn_dask]

    @task
    def check_total(result: dict, rows: int) -> int:
        """A later step uses the cluster's result as any XCom."""
        if result["total"] != rows * (rows - 1) // 2:
            raise ValueError(f"The cluster computed {result['total']}, not the sum of 0..{rows - 1}")
        print(f"The sum of 0..{rows - 1} is {result['total']}, computed by {result['workers']} Dask workers")
        return int(result["total"])

    total = total_of_features(ROWS)  # type: ignore[call-arg]  # dask_client is given when the function runs
    checked = check_total(total, ROWS)  # type: ignore[arg-type]  # an XComArg, resolved at run time

    # [START howto_operator_stop_dask_jupyter]
    stop_dask = SaturnStopDaskClusterOperator(
        task_id="stop_dask", project_id=PROJECT, trigger_rule="all_done", poll_interval=POLL_INTERVAL
    )
    stop_jupyter = SaturnStopJupyterOperator(
        task_id="stop_jupyter", jupyter_server_id=PROJECT, trigger_rule="all_done", poll_interval=POLL_INTERVAL
    )
    # [END howto_operator_stop_dask_jupyter]

    # [START howto_cleanup_watcher]
    @task(trigger_rule="one_failed", retries=0)
    def fail_run_if_a_step_failed() -> None:
        """The stops succeed even after a failed job: this keeps the run from being marked a success."""
        raise RuntimeError("A step of the job failed; the workspace and cluster were stopped all the same.")

    project >> start_jupyter >> start_dask >> total
    checked >> stop_dask >> stop_jupyter
    [project, start_jupyter, start_dask, total, checked] >> fail_run_if_a_step_failed()
# [END howto_cleanup_watcher]
