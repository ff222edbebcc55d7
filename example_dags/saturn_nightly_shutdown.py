"""Every night, stop the Saturn workspaces and Dask clusters that are really idle.

Shows: ``SaturnStopIdleResourcesOperator`` on a schedule: idle means up for at least two hours with CPU
below a tenth of a core all that time (from Saturn's metrics; missing metrics mean not idle), what must
stay up kept out by name and by tag, and a dry run first, so that the log shows the table of what will be
stopped and why before anything is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

# [START howto_operator_idle_settings]
IDLE: dict[str, Any] = {
    "idle_for": timedelta(hours=2),
    "cpu_below": 0.1,  # cores, summed over the resource's pods
    "kinds": ["workspace", "dask_cluster"],
    "exclude": ["production-dashboard", "tag:keep=always"],
}
# [END howto_operator_idle_settings]

with DAG(
    dag_id="saturn_nightly_shutdown",
    schedule="0 22 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
) as dag:
    # [START howto_operator_idle_dry_run_then_stop]
    report = SaturnStopIdleResourcesOperator(task_id="report_idle_resources", dry_run=True, **IDLE)
    stop = SaturnStopIdleResourcesOperator(task_id="stop_idle_resources", **IDLE)
    report >> stop
# [END howto_operator_idle_dry_run_then_stop]
