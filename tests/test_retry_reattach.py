"""A real retry under ``dag.test()``: the first try dies while its job run goes on.

On Airflow 3.3 the retry follows that run, through the task state store. On Airflow 2.11 (no store) nothing
tells that run from another DAG run's: each try starts its own, and none stops a run it did not start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from tests.conftest import requests_to
from tests.dag_files import dag_from_source

DAG_SOURCE = """
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_saturn.operators import SaturnRunJobOperator

with DAG("saturn_retry_reattach", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    SaturnRunJobOperator(
        task_id="run",
        job_id="{{ dag_run.conf['job_id'] }}",
        deferrable=False,
        poll_interval=0.1,
        timeout=0.6,  # the first try gives up while the run goes on...
        stop_on_failure=False,  # ...and leaves it running, as a worker that died would
        retries=8,  # each try gives up after 0.6 s; a later one sees the run complete
        retry_delay=timedelta(seconds=0),
    )
"""


@pytest.fixture
def retry_dag(airflow_db, saturn_connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return dag_from_source(DAG_SOURCE, "saturn_retry_reattach", tmp_path, monkeypatch)


def has_task_state_store() -> bool:
    """Whether this Airflow line gives a try a task state store (Airflow 3.3+)."""
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_retry_follows_the_run_its_first_try_started(retry_dag, saturn_connection, client: SaturnClient) -> None:
    job = client.create_job("resumable", "sleep 2; echo finished")
    dag_run = retry_dag.test(run_conf={"job_id": job["id"]})
    ti = dag_run.get_task_instance("run")
    assert ti.try_number >= 2, "the first try failed"
    runs = client.list_job_runs(job["id"])
    if not has_task_state_store():  # Airflow 2.11: every try its own run, and none stopped by another try
        assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == len(runs) == ti.try_number
        assert not [run for run in runs if run["status"] in ("stopping", "stopped")]
        return
    assert str(getattr(ti.state, "value", ti.state)) == "success"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 1, "no second run"
    (run,) = runs
    assert run["status"] == "completed"
    assert ti.xcom_pull(task_ids="run", key="return_value")["run_name"] == run["run_name"]
