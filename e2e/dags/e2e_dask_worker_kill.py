"""Scenario j: a Celery worker dies while a ``@task.saturn_dask`` function computes on the project's Dask cluster;
the retry connects again (a new certificate) and computes the value on the same, still running, cluster.

The project and its cluster are made and started by the DAG (the emulator runs a real ``distributed`` scheduler
and two workers for it); ``slow_total`` (``retries=1``) submits a computation that takes ``COMPUTE_SECONDS`` on a
Dask worker, says in its log on which worker it runs (the harness kills the Celery worker then), and returns the
result with the pid of the Dask worker process that computed it and the scheduler it came from. The stop runs
whatever happened (``all_done``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, task

from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStopDaskClusterOperator,
)

if TYPE_CHECKING:
    from distributed import Client

PROJECT = "{{ ti.xcom_pull(task_ids='create_project', key='project_id') }}"
COMPUTE_SECONDS = 20  # how long the computation runs on the Dask worker: the kill lands in it
N = 1000
COMPUTING = "slow_total is computing on Dask worker"  # the log line the harness waits for
SUBMIT_WAIT_SECONDS = 60  # how long the function waits for the scheduler to give the computation to a worker

with DAG(
    dag_id="e2e_dask_worker_kill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "e2e"],
    default_args={"retries": 0},
) as dag:
    create = SaturnCreateProjectOperator(
        task_id="create_project", name="e2e-dask-worker-kill", if_exists="reuse", dask_cluster={"n_workers": 2}
    )
    start_dask = SaturnStartDaskClusterOperator(
        task_id="start_dask", project_id=PROJECT, deferrable=False, poll_interval=1, timeout=timedelta(minutes=5)
    )

    @task.saturn_dask(project_id=PROJECT, connect_timeout=60, retries=1, retry_delay=timedelta(seconds=2))
    def slow_total(n: int, seconds: int, dask_client: Client) -> dict[str, Any]:
        """Sum of squares below ``n``, computed in ``seconds`` on a Dask worker of the cluster."""
        import time

        def on_a_dask_worker(n: int, seconds: int) -> dict[str, int]:
            import os
            import time

            time.sleep(seconds)
            return {"total": sum(i * i for i in range(n)), "dask_worker_pid": os.getpid()}

        future = dask_client.submit(on_a_dask_worker, n, seconds, pure=False)
        deadline = time.monotonic() + SUBMIT_WAIT_SECONDS
        worker = None
        while worker is None:  # bounded: the scheduler gives it to a worker within the deadline, or the task fails
            processing = dask_client.processing()
            worker = next((address for address, keys in processing.items() if future.key in keys), None)
            if worker is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no Dask worker took the computation within {SUBMIT_WAIT_SECONDS}s")
                time.sleep(0.2)
        print(f"{COMPUTING} {worker} of scheduler {dask_client.scheduler.address} for {seconds}s", flush=True)
        result = future.result(timeout=seconds + 60)
        return {**result, "scheduler": dask_client.scheduler.address}

    stop_dask = SaturnStopDaskClusterOperator(
        task_id="stop_dask", project_id=PROJECT, trigger_rule="all_done", poll_interval=1
    )
    create >> start_dask >> slow_total(N, COMPUTE_SECONDS) >> stop_dask  # type: ignore[call-arg]
