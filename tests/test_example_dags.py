"""Every example DAG runs for real under ``dag.test()`` against the emulator, deferrable and not."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.compat import AIRFLOW_V_3
from airflow_provider_saturn.links import XCOM_SATURN_URL, SaturnResourceLink
from airflow_provider_saturn.operators.base import SaturnWaitingOperator

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def load_dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str) -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])
def test_workspace_before_job(airflow_db, saturn_connection, client: SaturnClient, deferrable: bool) -> None:
    dag = load_dag("saturn_workspace_before_job")
    for task in dag.tasks:
        if isinstance(task, SaturnWaitingOperator):
            task.deferrable = deferrable
    dag_run = dag.test()
    assert states(dag_run) == {
        "create_or_reuse_project": "success",
        "start_jupyter": "success",
        "start_dask": "success",
        "run_job": "success",
        "stop_dask": "success",
        "stop_jupyter": "success",
        "fail_run_if_a_step_failed": "skipped",
    }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    (project,) = client.list_projects()
    assert project["name"] == "features-nightly"
    assert client.get_jupyter_server(project["id"])["status"] == "stopped"
    assert client.get_dask_cluster(project["dask_cluster_id"])["status"] == "stopped"
    assert xcom(dag_run, "run_job", "return_value") == project["dask_cluster_id"]
    ui_url = f"{saturn_connection.url}/dash/resources/workspace/{project['id']}"
    assert xcom(dag_run, "start_jupyter", XCOM_SATURN_URL) == ui_url
    link = SaturnResourceLink()
    if AIRFLOW_V_3:  # the UI reads the link from its own XCom key
        assert xcom(dag_run, "start_jupyter", link.xcom_key) == ui_url
    else:  # the webserver calls get_link
        ti_key = dag_run.get_task_instance("start_jupyter").key
        assert link.get_link(dag.task_dict["start_jupyter"], ti_key=ti_key) == ui_url


def test_workspace_is_stopped_when_the_job_fails(airflow_db, saturn_connection, client: SaturnClient) -> None:
    dag = load_dag("saturn_workspace_before_job")

    def failing_job(cluster: dict) -> None:
        raise RuntimeError("the job broke")

    dag.task_dict["run_job"].python_callable = failing_job
    dag_run = dag.test()
    result = states(dag_run)
    assert result["run_job"] == "failed"
    assert (result["stop_dask"], result["stop_jupyter"]) == ("success", "success")
    assert result["fail_run_if_a_step_failed"] == "failed"
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    (project,) = client.list_projects()
    assert client.get_jupyter_server(project["id"])["status"] == "stopped"
    assert client.get_dask_cluster(project["dask_cluster_id"])["status"] == "stopped"


def test_nightly_shutdown(airflow_db, saturn_connection, client: SaturnClient) -> None:
    idle = client.create_project("forgotten")
    client.start_jupyter_server(idle["id"])
    kept = client.create_project("production-dashboard")
    client.start_jupyter_server(kept["id"])
    time.sleep(saturn_connection.state.transition_seconds + 0.05)
    old = "2026-01-01T00:00:00+00:00"
    for project_id in (idle["id"], kept["id"]):
        assert client.get_jupyter_server(project_id)["status"] == "running"
        saturn_connection.state.workspaces[project_id].life.started_at = old
    dag_run = load_dag("saturn_nightly_shutdown").test()
    assert set(states(dag_run).values()) == {"success"}
    report = xcom(dag_run, "report_idle_resources", "return_value")
    assert [(item["project_name"], item["action"]) for item in report] == [("forgotten", "would stop")]
    assert client.get_jupyter_server(idle["id"])["status"] in ("stopping", "stopped")
    assert client.get_jupyter_server(kept["id"])["status"] in ("pending", "running")


@pytest.mark.parametrize("deferrable", [False, True], ids=["reschedule", "deferrable"])
def test_project_lifecycle(airflow_db, saturn_connection, client: SaturnClient, deferrable: bool) -> None:
    dag = load_dag("saturn_project_lifecycle")
    sensor = dag.task_dict["wait_until_running"]
    sensor.deferrable = deferrable
    dag_run = dag.test()
    assert set(states(dag_run).values()) == {"success"}
    updated = xcom(dag_run, "update_project", "return_value")
    assert updated["instance_size"] == "large"
    assert updated["description"].startswith("Updated by saturn_project_lifecycle on ")
    assert client.list_projects() == [], "deleted at the end"


def test_workspace_before_job_survives_a_flaky_saturn(airflow_db, saturn_connection, client, monkeypatch) -> None:
    """A quarter of all requests fail (5xx, 429, dropped answers): the run still succeeds, with one project."""
    import json

    conn = json.loads(os.environ["AIRFLOW_CONN_SATURN_DEFAULT"])
    conn["extra"]["retry"] = {"max_attempts": 8, "initial_wait": 0.01, "max_wait": 0.05}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(conn))
    saturn_connection.set_faults(error_rate=0.15, throttle_rate=0.05, retry_after=0, drop_rate=0.05, seed=7)
    dag_run = load_dag("saturn_workspace_before_job").test()
    saturn_connection.set_faults()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success", states(dag_run)
    (project,) = client.list_projects()
    assert len(saturn_connection.state.dask_clusters) == 1
    assert client.get_jupyter_server(project["id"])["status"] == "stopped"
    faults = saturn_connection.config.stats.faults
    assert set(faults) == {"error", "throttle", "drop"}, faults
    assert sum(faults.values()) >= 5, faults
