"""Scenario h: a Saturn job run outlives the worker that started it, and a user clears the finished task.

The run waits in the worker (``deferrable=False``), which is where the kill lands; ``retries=1``, so the retry
after the kill is Airflow's own, and the try after the user's clear is the first of a new series.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_saturn.operators import SaturnRunJobOperator

with DAG(
    dag_id="e2e_job_reattach",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
) as dag:
    SaturnRunJobOperator(
        task_id="run_job",
        job_id="{{ dag_run.conf['job_id'] }}",
        deferrable=False,
        poll_interval=1,
        timeout=timedelta(minutes=5),
    )
