"""Every night, stop Saturn workspaces and Dask clusters that were left running.

Shows: ``SaturnStopIdleResourcesOperator`` on a schedule, with a name pattern, a minimum age (required: no
run stops a server started minutes ago), an exclude list for what must stay up, and a dry run first so the
log shows what will be stopped. A server whose start time Saturn does not give is never stopped; the report
lists it as ``skipped``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(
    dag_id="saturn_nightly_shutdown",
    schedule="0 22 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
) as dag:
    report = SaturnStopIdleResourcesOperator(
        task_id="report_idle_resources",
        name_pattern="*",
        older_than=timedelta(hours=2),
        exclude=["production-dashboard"],
        dry_run=True,
    )
    stop = SaturnStopIdleResourcesOperator(
        task_id="stop_idle_resources",
        name_pattern="*",
        older_than=timedelta(hours=2),
        exclude=["production-dashboard"],
    )
    report >> stop
