"""Every example DAG runs for real under ``dag.test()`` against the emulator, deferrable and not."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.compat import AIRFLOW_V_3
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.links import XCOM_SATURN_URL, SaturnResourceLink
from airflow_provider_saturn.operators.base import SaturnWaitingOperator
from tests.conftest import FAST_RETRY, TOKEN, point_saturn_default_at, requests_to
from tests.dag_files import states

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def load_dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def xcom(dag_run: Any, task_id: str, key: str) -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)


@pytest.fixture
def dask_saturn(emulator_dask: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> SaturnEmulator:
    """``saturn_default`` points at the emulator whose Dask clusters are real (the workspace DAG computes on one)."""
    point_saturn_default_at(emulator_dask.url, monkeypatch)
    return emulator_dask


@pytest.fixture
def dask_client(dask_saturn: SaturnEmulator) -> Iterator[SaturnClient]:
    with SaturnClient(url=dask_saturn.url, api_token=TOKEN, retry=FAST_RETRY, timeout=5) as saturn_client:
        yield saturn_client


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])
def test_workspace_before_job(airflow_db, dask_saturn, dask_client: SaturnClient, deferrable: bool) -> None:
    client = dask_client
    dag = load_dag("saturn_workspace_before_job")
    for task in dag.tasks:
        if isinstance(task, SaturnWaitingOperator):
            task.deferrable = deferrable
    dag_run = dag.test()
    assert states(dag_run) == {
        "create_or_reuse_project": "success",
        "start_jupyter": "success",
        "start_dask": "success",
        "total_of_features": "success",
        "check_total": "success",
        "stop_dask": "success",
        "stop_jupyter": "success",
        "fail_run_if_a_step_failed": "skipped",
    }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    (project,) = client.list_projects()
    assert project["name"] == "features-nightly"
    assert client.get_jupyter_server(project["id"])["status"] == "stopped"
    assert client.get_dask_cluster(project["dask_cluster_id"])["status"] == "stopped"
    computed = xcom(dag_run, "total_of_features", "return_value")
    assert computed == {"total": 499999500000, "workers": 2}, "computed by the cluster's two real workers"
    assert xcom(dag_run, "check_total", "return_value") == 499999500000
    assert dask_saturn.dask.pids() == [], "the stopped cluster's processes are gone"
    ui_url = f"{dask_saturn.url}/dash/resources/workspace/{project['id']}"
    assert xcom(dag_run, "start_jupyter", XCOM_SATURN_URL) == ui_url
    link = SaturnResourceLink()
    if AIRFLOW_V_3:  # the UI reads the link from its own XCom key
        assert xcom(dag_run, "start_jupyter", link.xcom_key) == ui_url
    else:  # the webserver calls get_link
        ti_key = dag_run.get_task_instance("start_jupyter").key
        assert link.get_link(dag.task_dict["start_jupyter"], ti_key=ti_key) == ui_url


def test_workspace_is_stopped_when_the_job_fails(airflow_db, dask_saturn, dask_client: SaturnClient) -> None:
    client = dask_client
    dag = load_dag("saturn_workspace_before_job")

    def failing_job(rows: int, dask_client: object = None) -> None:
        raise RuntimeError("the job broke")

    dag.task_dict["total_of_features"].python_callable = failing_job
    dag_run = dag.test()
    result = states(dag_run)
    assert (result["total_of_features"], result["check_total"]) == ("failed", "upstream_failed")
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
def test_no_secret_of_the_project_reaches_any_xcom(airflow_db, dask_saturn, dask_client, deferrable: bool) -> None:
    """Environment variable values and the start script stay in Saturn; XCom (plain text) gets the names."""
    client = dask_client
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
        "total_of_features": "upstream_failed",
        "check_total": "upstream_failed",
        "stop_dask": "skipped",
        "stop_jupyter": "skipped",
        "fail_run_if_a_step_failed": "failed",
    }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    routes = saturn_connection.config.stats.by_route
    assert not [route for route in routes if "None" in route or "{id}" in route], routes
    assert saturn_connection.state.workspaces == {}


def test_nightly_shutdown(airflow_db, saturn_connection, client: SaturnClient) -> None:
    emulator = saturn_connection
    idle, busy = emulator.seed(kind="workspace", prefix="forgotten", count=2, started_ago_seconds=3 * 3600)["ids"]
    (kept,) = emulator.seed(kind="workspace", prefix="kept", started_ago_seconds=3 * 3600, tags={"keep": "always"})[
        "ids"
    ]
    for workspace, millicores in ((idle, 20), (busy, 1500), (kept, 20)):
        emulator.set_metrics("workspace", workspace, series={"cpu": millicores})
    dag_run = load_dag("saturn_nightly_shutdown").test()
    assert set(states(dag_run).values()) == {"success"}
    report = xcom(dag_run, "report_idle_resources", "return_value")
    assert sorted((item["name"], item["action"]) for item in report) == [
        ("forgotten-000000", "would stop"),
        ("forgotten-000001", "kept"),
        ("kept-000000", "excluded"),
    ]
    assert client.get_jupyter_server(idle)["status"] in ("stopping", "stopped")
    for running in (busy, kept):
        assert client.get_jupyter_server(running)["status"] in ("pending", "running")


@pytest.mark.parametrize("deferrable", [False, True], ids=["reschedule", "deferrable"])
def test_project_lifecycle(airflow_db, saturn_connection, client: SaturnClient, deferrable: bool) -> None:
    dag = load_dag("saturn_project_lifecycle")
    sensor = dag.task_dict["wait_until_running"]
    sensor.deferrable = deferrable
    dag_run = dag.test()
    assert set(states(dag_run).values()) == {"success"}
    updated = xcom(dag_run, "update_project", "return_value")
    assert updated["instance_size"] == "large"
    assert updated["description"] == f"Updated by saturn_project_lifecycle in run {dag_run.run_id}"
    assert client.list_projects() == [], "deleted at the end"


def test_workspace_before_job_survives_a_flaky_saturn(airflow_db, dask_saturn, dask_client, monkeypatch) -> None:
    """A quarter of all requests fail (5xx, 429, dropped answers): the run still succeeds, with one project."""
    saturn_connection, client = dask_saturn, dask_client
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


# ------------------------------------------------------------------------------------ saturn_job_pipeline

JOB_PIPELINE_STATES = {
    "create_or_update_job": "success",
    "create_failing_job": "success",
    "start_deployment": "success",
    "run_job": "success",
    "run_failing_job": "failed",  # on purpose: the example shows a failed run
    "stop_deployment": "success",
    "fail_run_if_a_step_failed": "failed",
}

# A line of a job run's log in the task log, as run_logs.py writes it: "[<pod>] <content>". Airflow 3 prints a
# task's log once (structlog); Airflow 2.11's dag.test() prints it twice, through the task log handler (ISO
# timestamps) and the console (``,`` before the milliseconds): only the task log handler's lines are taken.
RUN_LOG_LINE = re.compile(
    r"^(?:\S+Z \[info\s*\] |\[\d{4}-\d\d-\d\dT[^\]]+\] \{run_logs\.py:\d+\} INFO - )"
    r"\[(?P<pod>job-[\w-]+)\] (?P<content>.*?)(?:\s+\[[\w.]+\]\s+loc=run_logs\.py:\d+)?$"
)


def seed_deployment(emulator: Any, name: str = "features-api") -> dict[str, Any]:
    """The deployment exists before the DAG runs (the provider does not create deployments): made through the
    emulator's HTTP API, as one would make it in Saturn."""
    import httpx

    body = {"name": name, "command": "python -m http.server 8000"}
    answer = httpx.post(f"{emulator.url}/api/deployments", json=body, headers={"Authorization": f"token {TOKEN}"})
    answer.raise_for_status()
    return dict(answer.json())


def run_log_in_task_log(captured: str, run_name: str) -> list[str]:
    """What the task log shows of a run's log (its pods are named ``<run name>-<suffix>``), in order."""
    return [
        match["content"]
        for line in captured.splitlines()
        if (match := RUN_LOG_LINE.match(line)) and match["pod"].rpartition("-")[0] == run_name
    ]


def job_runs(emulator: Any, name: str) -> tuple[str, list[str]]:
    """The id of the emulator's job named ``name`` and the names of every run it has made."""
    with emulator.state.lock:
        job_id = emulator.state.jobs.names[name]
        return job_id, [run.name for run in emulator.state.jobs.records[job_id].runs]


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])
def test_job_pipeline(airflow_db, saturn_connection, client: SaturnClient, capsys, deferrable: bool) -> None:
    """One job run completes with its log in the task log; the other fails, as designed, with Saturn's message
    and its log's last lines; the deployment is stopped all the same and the watcher fails the DAG run."""
    deployment = seed_deployment(saturn_connection)
    stale = client.create_job("features-refresh", "echo stale command")  # if_exists="update" replaces it
    dag = load_dag("saturn_job_pipeline")
    waiting = [task for task in dag.tasks if isinstance(task, SaturnWaitingOperator)]
    assert {task.task_id for task in waiting} == {"start_deployment", "run_job", "run_failing_job", "stop_deployment"}
    for task in waiting:
        task.deferrable = deferrable
    dag_run = dag.test()
    captured = capsys.readouterr().out

    assert states(dag_run) == JOB_PIPELINE_STATES
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"

    # Exactly one run of each job, and only the two starts the DAG asked for.
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2
    good_id, (good_run,) = job_runs(saturn_connection, "features-refresh")
    bad_id, (bad_run,) = job_runs(saturn_connection, "features-validate")
    assert good_id == stale["id"], "the existing job was updated, not made again"
    assert len(client.list_jobs()) == 2
    assert client.get_job(good_id)["command"] == "echo loading features; seq 3; sleep 1; echo done"

    # The good run: completed, its run name in XCom, its lines in the task log, each once and in order.
    assert (xcom(dag_run, "run_job", "job_id"), xcom(dag_run, "run_job", "run_name")) == (good_id, good_run)
    assert xcom(dag_run, "run_job", "return_value")["status"] == "completed"
    assert client.get_job_run(good_id, good_run)["status"] == "completed"
    assert run_log_in_task_log(captured, good_run) == ["loading features", "1", "2", "3", "done"]

    # The failing run: in error; the task's error carries Saturn's message and the last lines of the log.
    assert xcom(dag_run, "run_failing_job", "run_name") == bad_run
    assert client.get_job_run(bad_id, bad_run)["status"] == "error"
    assert run_log_in_task_log(captured, bad_run) == ["validating features", "ValueError: bad row 42"]
    failure = re.compile(
        rf"SaturnResourceError: Saturn job run {bad_id}/{bad_run}: .*Command exited with code 3\n"
        rf"Last 2 lines of its log:\n\[{bad_run}-\w+\] validating features\n\[{bad_run}-\w+\] ValueError: bad row 42\n"
    )
    assert failure.search(captured), "the failing task's error shows Saturn's message and the log's tail"

    # The deployment was started by name and is stopped at the end.
    assert xcom(dag_run, "start_deployment", "deployment_id") == deployment["id"]
    assert xcom(dag_run, "start_deployment", "return_value")["status"] == "running"
    assert client.get_deployment(deployment["id"])["status"] == "stopped"
    assert requests_to(saturn_connection, "POST /api/deployments/{id}/start") == 1
    assert requests_to(saturn_connection, "POST /api/deployments/{id}/stop") == 1


def test_job_pipeline_without_its_deployment_runs_no_job(airflow_db, saturn_connection, capsys) -> None:
    """The deployment must exist beforehand: without it the start fails saying so, and no job is run. The stop
    (``all_done``) names the deployment too, so it fails the same way: there is nothing it could stop."""
    dag_run = load_dag("saturn_job_pipeline").test()
    captured = capsys.readouterr().out
    assert states(dag_run) == {
        "create_or_update_job": "success",
        "create_failing_job": "success",
        "start_deployment": "failed",
        "run_job": "upstream_failed",
        "run_failing_job": "upstream_failed",
        "stop_deployment": "failed",
        "fail_run_if_a_step_failed": "failed",
    }
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    assert "Saturn has no deployment named 'features-api'" in captured
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 0


# ------------------------------------------------------------------------------------ saturn_python_tasks

PYTHON_TASKS_VALUES = {
    ("load_readings", -1): [12.5, 14.0, 11.25, 15.5, 13.75],
    ("summarise", -1): {"count": 5, "mean": 13.4, "high": 15.5},
    ("report", -1): "5 readings, mean 13.40, high 15.5",
    ("train", 0): {"learning_rate": 0.1, "loss": 1.05},
    ("train", 1): {"learning_rate": 0.01, "loss": 0.05},
    ("train", 2): {"learning_rate": 0.001, "loss": 1.05},
    ("pick_best", -1): {"learning_rate": 0.01, "loss": 0.05},
}


@pytest.fixture
def runner_connection(emulator_runner: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``saturn_default`` points at an emulator in runner mode: each job run's command runs as a real process."""
    conn = {
        "conn_type": "saturn",
        "host": emulator_runner.url,
        "password": TOKEN,
        "extra": {"retry": {"max_attempts": 4, "initial_wait": 0.01, "max_wait": 0.05}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(conn))
    return emulator_runner


def instance_values(dag_run: Any) -> dict[tuple[str, int], tuple[str, Any]]:
    """Each task instance of the run (mapped ones by map index): its state and its ``return_value`` XCom."""
    found = {}
    for ti in dag_run.get_task_instances():
        value = ti.xcom_pull(task_ids=ti.task_id, key="return_value", map_indexes=ti.map_index)
        found[(ti.task_id, ti.map_index)] = (str(getattr(ti.state, "value", ti.state)), value)
    return found


def test_python_tasks_run_on_saturn_and_return_their_values(airflow_db, runner_connection, capsys) -> None:
    """Each ``@task.saturn`` function (one, and one mapped over three values) runs for real as a Saturn job's
    process; its prints reach the task log, its return value is the task's XCom and feeds the tasks after it.
    One job per task instance, each started once; the successful runs' jobs are deleted (``keep_job`` default),
    but ``summarise``'s is kept here to show what Saturn ran."""
    emulator = runner_connection
    dag = load_dag("saturn_python_tasks")
    summarise = dag.task_dict["summarise"]
    assert (summarise.instance_size, summarise.deferrable, summarise.poll_interval) == ("xlarge", True, 0.2)
    summarise.keep_job = "always"
    dag_run = dag.test()
    captured = capsys.readouterr().out

    found = instance_values(dag_run)
    assert {key: state for key, (state, _) in found.items()} == dict.fromkeys(PYTHON_TASKS_VALUES, "success")
    assert {key: value for key, (_, value) in found.items()} == PYTHON_TASKS_VALUES
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"

    # Saturn made one job per task instance and started each once; the trains' jobs are gone, as designed.
    assert requests_to(emulator, "POST /api/jobs") == 4
    assert requests_to(emulator, "POST /api/jobs/{id}/start") == 4
    assert requests_to(emulator, "DELETE /api/jobs/{id}") == 3
    with SaturnClient(url=emulator.url, api_token=TOKEN) as client:
        (job,) = client.list_jobs()
        (run,) = client.list_job_runs(job["id"])
        lines = [line["content"] for line in client.job_logs(job["id"], run["run_name"])]
    assert (job["instance_size"], run["status"]) == ("xlarge", "completed")
    assert job["tags"]["airflow_task_id"] == "summarise" and job["tags"]["airflow_run_id"] == dag_run.run_id
    assert "Summarising 5 readings on Saturn" in lines, "the function ran in the job's process"

    # The functions' prints reached the task log, through the run's log; the result frames never did.
    for printed in (
        "Summarising 5 readings on Saturn",
        "learning rate 0.1: loss 1.05",
        "learning rate 0.001: loss 1.05",
    ):
        assert printed in captured, printed
    assert "SATURN-FRAME" not in captured
