"""Scenario e: a deferred start whose ``execution_timeout`` (15 s) is shorter than the wait (the workspace takes
a minute to come up). The task must fail, and the workspace it started must not keep running. The operator's
own ``timeout`` is left at its default (30 minutes): it is the operator's job to keep its deadline inside
``execution_timeout``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnStartJupyterOperator

EXECUTION_TIMEOUT = timedelta(seconds=15)

with DAG(
    dag_id="e2e_execution_timeout",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    SaturnStartJupyterOperator(
        task_id="start_jupyter",
        jupyter_server_id="{{ dag_run.conf['workspace'] }}",
        deferrable=True,
        poll_interval=2,
        execution_timeout=EXECUTION_TIMEOUT,
    )
