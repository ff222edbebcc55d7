"""Scenario d: a user marks deferred starts failed. ``started_here`` started its workspace (so on Airflow 3.3
the trigger's ``on_kill`` must stop it); ``already_pending`` found its workspace already starting (so nothing
may stop it). Workspaces come from ``dag_run.conf``; the poll interval is the time allowed for the stop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnStartJupyterOperator

POLL_INTERVAL = 5

with DAG(
    dag_id="e2e_mark_failed",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    SaturnStartJupyterOperator(
        task_id="started_here",
        jupyter_server_id="{{ dag_run.conf['started_here'] }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=10),
    )
    SaturnStartJupyterOperator(
        task_id="already_pending",
        jupyter_server_id="{{ dag_run.conf['already_pending'] }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=10),
    )
