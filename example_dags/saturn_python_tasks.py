"""Run Python functions on Saturn Cloud compute with ``@task.saturn``; their return values come back as XCom.

Shows: a TaskFlow pipeline in which one step runs on a Saturn instance of the size it asks for. An ordinary
``@task`` feeds a ``@task.saturn`` function; the function runs as a Saturn Job (its source and its arguments
are shipped with the job), its prints show in the task log as it runs, and the dict it returns is the task's
XCom, which an ordinary ``@task`` downstream uses. Then a ``@task.saturn`` function mapped with ``.expand()``
over a list: one Saturn job per mapped task instance, each returning its own value, gathered by a ``@task``.

The waits are deferrable: while a function runs on Saturn its task waits in the triggerer, not in a worker
slot. A successful run's job is deleted afterwards; a failed run's job stays in Saturn to look at
(``keep_job="on_failure"``, the default).

A ``@task.saturn`` function must be self-contained, as for ``@task.docker``: it imports inside itself what
it uses, and takes everything else as arguments (JSON values by default). It runs in the job's image, so
what it imports must be installed there (or listed in ``extra_packages``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

# Saturn asks for no more than one status read per resource every 10 s; the demo polls the emulator faster.
POLL_INTERVAL = float(os.environ.get("SATURN_EXAMPLE_POLL_INTERVAL", "10"))
LEARNING_RATES = [0.1, 0.01, 0.001]

with DAG(
    dag_id="saturn_python_tasks",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
) as dag:

    @task
    def load_readings() -> list[float]:
        """Stands in for reading the data: small JSON values travel as the function's arguments."""
        return [12.5, 14.0, 11.25, 15.5, 13.75]

    # [START howto_decorator_saturn]
    @task.saturn(
        instance_size="xlarge",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
    )
    def summarise(readings: list[float]) -> dict[str, float]:
        """Runs on a Saturn xlarge instance; what it returns becomes this task's XCom."""
        import statistics  # the function runs on its own on Saturn: it imports what it uses

        print(f"Summarising {len(readings)} readings on Saturn")
        return {"count": len(readings), "mean": statistics.mean(readings), "high": max(readings)}

    @task
    def report(summary: dict[str, float]) -> str:
        """An ordinary task, using the dict the Saturn function returned."""
        return f"{summary['count']:.0f} readings, mean {summary['mean']:.2f}, high {summary['high']}"

    report(summarise(load_readings()))  # type: ignore[arg-type]  # XComArgs: values at run time
    # [END howto_decorator_saturn]

    # [START howto_decorator_saturn_mapped]
    @task.saturn(
        instance_size="2xlarge",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
    )
    def train(learning_rate: float) -> dict[str, float]:
        """One Saturn job per mapped task instance; each returns the loss of its own learning rate."""
        import math

        loss = round(abs(math.log10(learning_rate) + 2) + 0.05, 3)  # stands in for training a model
        print(f"learning rate {learning_rate}: loss {loss}")
        return {"learning_rate": learning_rate, "loss": loss}

    @task
    def pick_best(results: list[dict[str, float]]) -> dict[str, float]:
        """The mapped tasks' return values, in map index order."""
        return min(results, key=lambda result: result["loss"])

    pick_best(train.expand(learning_rate=LEARNING_RATES))  # type: ignore[arg-type]  # as above
    # [END howto_decorator_saturn_mapped]
