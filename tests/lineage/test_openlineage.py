"""OpenLineage with its provider installed and enabled (a file transport): the Airflow task's parent information
reaches a Saturn job run's environment (a @task.saturn function reads it in its real process, and a
SaturnRunJobOperator's job gets it), and each Saturn operator's COMPLETE event carries the ``saturn`` run facet.

OpenLineage's configuration is read once per process, so the DAG runs in a fresh one, with the transport set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN

pytest.importorskip("airflow.providers.openlineage")

DAG_SOURCE = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_saturn.operators import SaturnRunJobOperator, SaturnStartJupyterOperator

with DAG("lineage_dag", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task.saturn(keep_job="always", poll_interval=0.1, timeout=60)
    def parent_seen_by_the_run():
        import os

        return {name: os.environ.get(name) for name in ("OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID")}

    run = SaturnRunJobOperator(
        task_id="run_job", job_id="JOB_ID", openlineage_inject_parent_job_info=True, poll_interval=0.1, timeout=60
    )
    start = SaturnStartJupyterOperator(task_id="start", jupyter_server_id="PROJECT_ID", poll_interval=0.1)
    parent_seen_by_the_run() >> run >> start
"""

RUNNER = """
import json, sys
from airflow_provider_saturn.compat import AIRFLOW_V_3
import importlib.util
spec = importlib.util.spec_from_file_location("lineage_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag_run = module.dag.test()
states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
seen = dag_run.get_task_instance("parent_seen_by_the_run").xcom_pull(task_ids="parent_seen_by_the_run")
print("RESULT " + json.dumps({"states": states, "seen": seen}))
"""


def _events(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def test_parent_information_reaches_the_runs_and_each_operator_reports_its_resource(
    airflow_db, emulator_runner: SaturnEmulator, tmp_path: Path
) -> None:
    with SaturnClient(url=emulator_runner.url, api_token=TOKEN) as client:
        job = client.create_job("lineage-job", "echo lineage", environment_variables={"KEEP": "kept-value"})
        project = client.create_project("lineage-project")
    dag_file = tmp_path / "lineage_dag.py"
    dag_file.write_text(DAG_SOURCE.replace("JOB_ID", job["id"]).replace("PROJECT_ID", project["id"]))
    events_file = tmp_path / "events.jsonl"
    bundles = [
        {
            "name": "lineage",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(tmp_path)},
        }
    ]
    env = {
        **os.environ,
        "AIRFLOW_CONN_SATURN_DEFAULT": json.dumps(
            {"conn_type": "saturn", "host": emulator_runner.url, "password": TOKEN}
        ),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "saturn-tests",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    finished = subprocess.run(
        [sys.executable, "-c", RUNNER, str(dag_file)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    result_lines = [line for line in finished.stdout.splitlines() if line.startswith("RESULT ")]
    assert result_lines, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads(result_lines[-1][len("RESULT ") :])
    assert result["states"] == {"parent_seen_by_the_run": "success", "run_job": "success", "start": "success"}

    # The function's own process saw its task as its parent, in OpenLineage's namespace/job/run form.
    parent = result["seen"]["OPENLINEAGE_PARENT_ID"]
    namespace, job_name, run_id = parent.split("/")
    assert (namespace, job_name) == ("saturn-tests", "lineage_dag.parent_seen_by_the_run")
    assert result["seen"]["OPENLINEAGE_ROOT_PARENT_ID"].startswith("saturn-tests/lineage_dag/")

    # The existing job got the run_job task's parent, and kept its own variable.
    with SaturnClient(url=emulator_runner.url, api_token=TOKEN) as client:
        variables = client.get_job(job["id"])["environment_variables"]
    assert variables["KEEP"] == "kept-value"
    assert variables["OPENLINEAGE_PARENT_ID"].startswith("saturn-tests/lineage_dag.run_job/")
    assert variables["OPENLINEAGE_PARENT_JOB_NAME"] == "lineage_dag.run_job"

    # Each Saturn operator's COMPLETE event names the resource it acted on.
    events = _events(events_file)
    complete = {
        event["job"]["name"]: event["run"]["facets"]
        for event in events
        if event.get("eventType") == "COMPLETE" and "job" in event
    }
    run_facet = complete["lineage_dag.run_job"]["saturn"]
    assert run_facet["resourceKind"] == "job_run" and run_facet["resourceId"] == job["id"]
    assert run_facet["runName"] and run_facet["url"].endswith(f"/dash/resources/job/{job['id']}")
    assert complete["lineage_dag.start"]["saturn"]["resourceId"] == project["id"]
    assert complete["lineage_dag.parent_seen_by_the_run"]["saturn"]["resourceKind"] == "job_run"
    task_name = "lineage_dag.parent_seen_by_the_run"
    own_runs = {event["run"]["runId"] for event in events if event.get("job", {}).get("name") == task_name}
    assert own_runs == {run_id}, "the parent run id is the task's own OpenLineage run id"
    assert "kept-value" not in events_file.read_text(), "no environment value in a lineage event"


def test_without_a_transport_nothing_is_injected(saturn_connection, client: SaturnClient) -> None:
    """OpenLineage installed but not configured (this process): disabled, so nothing changes."""
    from airflow_provider_saturn.lineage import openlineage_enabled, parent_job_environment, with_parent_job

    assert openlineage_enabled() is False
    assert parent_job_environment({"ti": object()}) == {}
    assert with_parent_job({"A": "1"}, {"ti": object()}) == {"A": "1"}
