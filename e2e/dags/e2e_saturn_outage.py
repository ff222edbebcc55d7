"""Scenario g: Saturn answers every request with a 503 for 60 s while a deferred and a sync start wait; both must
ride it out and succeed, in their first try. Workspaces come from ``dag_run.conf``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnStartJupyterOperator

with DAG(
    dag_id="e2e_saturn_outage",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    SaturnStartJupyterOperator(
        task_id="deferred_start",
        jupyter_server_id="{{ dag_run.conf['deferred'] }}",
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=5),
    )
    SaturnStartJupyterOperator(
        task_id="sync_start",
        jupyter_server_id="{{ dag_run.conf['sync'] }}",
        deferrable=False,
        poll_interval=2,
        timeout=timedelta(minutes=5),
    )
