"""Scenario c: two deferred starts while the triggerer restarts. ``resumes`` has time to spare and must resume
and succeed; ``deadline_passes`` has a 15 s deadline that passes while the triggerer is down, and must fail
at once when a triggerer takes it up again, with that same deadline.

The workspaces are made by the harness and passed in ``dag_run.conf``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnStartJupyterOperator

POLL_INTERVAL = 2
SHORT_DEADLINE = timedelta(seconds=30)

with DAG(
    dag_id="e2e_triggerer_restart",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    SaturnStartJupyterOperator(
        task_id="resumes",
        jupyter_server_id="{{ dag_run.conf['resumes'] }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=5),
    )
    SaturnStartJupyterOperator(
        task_id="deadline_passes",
        jupyter_server_id="{{ dag_run.conf['deadline_passes'] }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=SHORT_DEADLINE,
    )
