"""The 500-sensor measurement: one deferred ``SaturnJupyterServerSensor`` per workspace id in
``dag_run.conf['ids']`` (a mapped task), all waiting in the one triggerer for a ``running`` that does not come
(the workspaces stay ``pending``).
The harness measures the triggerer, then marks the run failed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_saturn.sensors import SaturnJupyterServerSensor

POKE_INTERVAL = 10  # Saturn's asked-for rate: one status read per resource every 10 s

with DAG(
    dag_id="e2e_scale",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    max_active_tasks=1000,
    default_args={"retries": 0},
) as dag:

    @task
    def workspace_ids(**context: object) -> list[str]:
        """The ids the harness seeded, from the run's conf."""
        return list(context["dag_run"].conf["ids"])  # type: ignore[attr-defined]

    SaturnJupyterServerSensor.partial(
        task_id="wait_running",
        target_status="running",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=3600,
    ).expand(jupyter_server_id=workspace_ids())
