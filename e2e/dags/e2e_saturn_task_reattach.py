"""Scenario i: a ``@task.saturn`` function outlives the worker that started it; the retry still returns its value.

The function runs on the emulator in runner mode (connection ``saturn_runner``: its job's command runs for real,
as a process), sleeps long enough to outlast the worker's kill and the heartbeat timeout, then returns a dict.
The task waits in the worker (``deferrable=False``), which is where the kill lands; ``retries=1``, so the retry
after the kill is Airflow's own. ``keep_job="always"`` keeps the job after success, for the harness to read its
runs and its log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

RUN_SECONDS = 60  # how long the function runs: longer than the kill, the heartbeat timeout and the retry's start

with DAG(
    dag_id="e2e_saturn_task_reattach",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
) as dag:

    @task.saturn(
        saturn_conn_id="saturn_runner",
        deferrable=False,
        poll_interval=1,
        timeout=timedelta(minutes=5),
        keep_job="always",
    )
    def slow_square(x: int, seconds: int) -> dict[str, int]:
        """Prints that it started, sleeps, returns the square: one process, one start line, one value."""
        import time

        print(f"slow_square started: {x} squared in {seconds}s", flush=True)
        time.sleep(seconds)
        print("slow_square done", flush=True)
        return {"x": x, "square": x * x}

    slow_square(7, RUN_SECONDS)
