"""Scenario b: a Celery worker is killed during a create and during a sync start's wait; each task retries on the
other worker and succeeds, and Saturn sees one create and one start.

The create attaches a Dask cluster, so that it makes three requests after the project exists (cluster, then
the project again): the harness slows Saturn down and kills the worker while the last is in flight. The start
waits in the worker (``deferrable=False``), which is where the kill lands.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnCreateProjectOperator, SaturnStartJupyterOperator

PROJECT = "{{ ti.xcom_pull(task_ids='create_project', key='project_id') }}"

with DAG(
    dag_id="e2e_worker_kill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
) as dag:
    create = SaturnCreateProjectOperator(
        task_id="create_project",
        name="e2e-worker-kill",  # if_exists="fail" (default): the retry must know the project is its own
        dask_cluster={"n_workers": 1},
    )
    start = SaturnStartJupyterOperator(
        task_id="start_jupyter",
        jupyter_server_id=PROJECT,
        deferrable=False,
        poll_interval=1,
        timeout=timedelta(minutes=5),
    )
    create >> start
