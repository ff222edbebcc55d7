"""Scenario f: the scheduler is killed and restarted while a deferred start (Jupyter) and a sync start (Dask) wait;
the run must complete: create, both starts, both stops, each once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStartJupyterOperator,
    SaturnStopDaskClusterOperator,
    SaturnStopJupyterOperator,
)

PROJECT = "{{ ti.xcom_pull(task_ids='create_project', key='project_id') }}"

with DAG(
    dag_id="e2e_scheduler_restart",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    create = SaturnCreateProjectOperator(
        task_id="create_project", name="e2e-scheduler-restart", if_exists="reuse", dask_cluster={"n_workers": 1}
    )
    start_jupyter = SaturnStartJupyterOperator(
        task_id="start_jupyter",
        jupyter_server_id=PROJECT,
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(minutes=5),
    )
    start_dask = SaturnStartDaskClusterOperator(
        task_id="start_dask", project_id=PROJECT, deferrable=False, poll_interval=1, timeout=timedelta(minutes=5)
    )
    stop_dask = SaturnStopDaskClusterOperator(task_id="stop_dask", project_id=PROJECT, poll_interval=1)
    stop_jupyter = SaturnStopJupyterOperator(task_id="stop_jupyter", jupyter_server_id=PROJECT, poll_interval=1)
    create >> [start_jupyter, start_dask] >> stop_dask >> stop_jupyter
