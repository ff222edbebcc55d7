"""Every example DAG runs for real under ``dag.test()`` against the emulator, deferrable and not."""

from __future__ import annotations

import importlib.util
import json
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


def stored_xcoms(dag_run: Any) -> dict[tuple[str, str], str]:
    """Every XCom of the run as the metadata database stores it: ``(task_id, key)`` -> the stored text."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    try:
        from airflow.models.xcom import XComModel as XComRow  # Airflow 3
    except ImportError:  # Airflow 2.11
        from airflow.models.xcom import XCom as XComRow  # type: ignore[no-redef]

    query = select(XComRow.task_id, XComRow.key, XComRow.value).where(
        XComRow.dag_id == dag_run.dag_id, XComRow.run_id == dag_run.run_id
    )
    with create_session() as session:
        rows = session.execute(query).all()
    return {
        (task_id, key): value.decode() if isinstance(value, bytes) else json.dumps(value)
        for task_id, key, value in rows
    }


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])
def test_no_secret_of_the_project_reaches_any_xcom(airflow_db, saturn_connection, client, deferrable: bool) -> None:
    """Environment variable values and the start script stay in Saturn; XCom (plain text) gets the names."""
    dag = load_dag("saturn_workspace_before_job")
    create = dag.task_dict["create_or_reuse_project"]
    create.environment_variables = {"DB_PASSWORD": "hunter2"}
    create.start_script = "export API_TOKEN=tok-0f1e2d3c; pip install -r requirements.txt"
    for task in dag.tasks:
        if isinstance(task, SaturnWaitingOperator):
            task.deferrable = deferrable
    dag_run = dag.test()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success", states(dag_run)
    (project,) = client.list_projects()
    assert project["environment_variables"] == {"DB_PASSWORD": "hunter2"}, "Saturn has it"
    xcoms = stored_xcoms(dag_run)
    returned = {task_id for task_id, key in xcoms if key == "return_value"}
    assert {"create_or_reuse_project", "start_jupyter", "start_dask", "stop_dask", "stop_jupyter"} <= returned
    for (task_id, key), text in xcoms.items():
        assert "hunter2" not in text, (task_id, key)
        assert "tok-0f1e2d3c" not in text, (task_id, key)
    assert "DB_PASSWORD" in xcoms[("create_or_reuse_project", "return_value")], "the names stay visible"


def test_clean_up_after_a_failed_create_skips_the_stops(airflow_db, saturn_connection) -> None:
    """The stops (``all_done``) find no project id: they skip without a request; the watcher fails the run."""
    dag = load_dag("saturn_workspace_before_job")
    dag.task_dict["create_or_reuse_project"].jupyter_size = "huge"  # not a Saturn size: the create fails
    dag_run = dag.test()
    assert states(dag_run) == {
        "create_or_reuse_project": "failed",
        "start_jupyter": "upstream_failed",
        "start_dask": "upstream_failed",
        "run_job": "upstream_failed",
        "stop_dask": "skipped",
        "stop_jupyter": "skipped",
        "fail_run_if_a_step_failed": "failed",
    }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    routes = saturn_connection.config.stats.by_route
    assert not [route for route in routes if "None" in route or "{id}" in route], routes
    assert saturn_connection.state.workspaces == {}


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
