"""Adversarial review of ``@task.saturn_dask`` (issue 16): careless DAG arguments, what a function can do with the
client it is given, and above all which clusters the task may stop (only one whose start it began and that
failed; never one that ran before, nor one another task started)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.decorators.saturn_dask import _SaturnDaskDecoratedOperator
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.dag_files import dag_from_source
from tests.dask import test_saturn_dask_task as lead_tests
from tests.dask.test_saturn_dask_task import _project_with_cluster, states
from tests.harness import DictStore, TryOf, context_for

CLUSTER = "0123456789abcdef0123456789abcdef"
saturn = lead_tests.saturn  # the fixture: saturn_default on the real-Dask emulator


def function(dask_client: Any = None) -> int:
    return 1


def try_context(try_number: int, store: DictStore) -> Any:
    """A try's context with a task state store kept across tries (Airflow 3.3's)."""
    return {**context_for(TryOf(try_number)), "task_state_store": store}


def operator(**kwargs: Any) -> _SaturnDaskDecoratedOperator:
    return _SaturnDaskDecoratedOperator(task_id="compute", python_callable=function, **kwargs)


# ------------------------------------------------------------------ arguments, refused when the DAG is parsed


@pytest.mark.parametrize(
    "connect_timeout",
    [0, -1, float("nan"), float("inf"), True, 10**9, timedelta(hours=2)],
    ids=["zero", "negative", "nan", "inf", "bool", "huge", "timedelta-over-bound"],
)
def test_review_a_connect_timeout_the_client_refuses_is_refused_when_the_dag_is_parsed(connect_timeout):
    """``get_dask_client`` takes at most 600 s (and no bool): a value it refuses must fail the DAG's parse, not
    each run after ``start=True`` has started (and left running) a billable cluster."""
    with pytest.raises((ValueError, TypeError)):
        operator(dask_cluster_id=CLUSTER, connect_timeout=connect_timeout)


@pytest.mark.parametrize(
    "timeout", [0, -5, float("nan"), "soon", None], ids=["zero", "negative", "nan", "text", "none"]
)
def test_review_a_start_timeout_that_is_no_duration_is_refused(timeout):
    with pytest.raises((ValueError, TypeError)):
        operator(dask_cluster_id=CLUSTER, start=True, timeout=timeout)


def test_review_both_or_neither_id_is_refused():
    with pytest.raises(ValueError):
        operator()
    with pytest.raises(ValueError):
        operator(dask_cluster_id=CLUSTER, project_id=CLUSTER)


@pytest.mark.parametrize("value", ["None", "", "  ", "../", "..", "a/b", "x" * 5000, "abc\n", "%2e%2e"], ids=repr)
@pytest.mark.parametrize("argument", ["project_id", "dask_cluster_id"])
@pytest.mark.parametrize("start", [False, True], ids=["no-start", "start"])
def test_review_a_rendered_id_that_is_no_id_fails_before_any_request(saturn_connection, argument, value, start):
    task = operator(**{argument: value}, start=start, poll_interval=0.05, timeout=1, connect_timeout=1)
    saturn_connection.config.stats.requests = 0
    with pytest.raises(Exception) as caught:
        task.execute(context_for())
    assert saturn_connection.config.stats.requests == 0, f"a request was sent ({caught.value})"


# ------------------------------------------------------------------ what this task may stop


def _scripted_cluster(client: SaturnClient) -> tuple[str, str]:
    project = client.create_project("review-dask-scripted")
    cluster = client.create_dask_cluster(project["id"], n_workers=1)
    return project["id"], cluster["id"]


def _wait_for(client: SaturnClient, cluster_id: str, *statuses: str, limit: float = 10) -> str:
    deadline = time.monotonic() + limit
    while (status := client.get_dask_cluster(cluster_id)["status"]) not in statuses:
        assert time.monotonic() < deadline, f"{cluster_id} is {status}"
        time.sleep(0.05)
    return status


def test_review_a_retry_never_stops_a_cluster_another_task_started_after_this_one_had_it_running(
    saturn_connection: SaturnEmulator, client: SaturnClient
):
    """Try 1 starts the cluster, sees it ``running`` and then fails (its function, or here its connection: the
    scripted emulator's scheduler does not exist). Someone stops the cluster; another task starts it again. Try 2
    finds it ``pending``: that start is not this task's, and must not be stopped when try 2 gives up waiting.
    (The record of try 1's start, kept for a worker that dies while waiting, still claims the cluster.)"""
    _, cluster_id = _scripted_cluster(client)
    store = DictStore()
    first = operator(dask_cluster_id=cluster_id, start=True, poll_interval=0.05, timeout=10, connect_timeout=1)
    with pytest.raises(Exception):
        first.execute(try_context(1, store))
    assert client.get_dask_cluster(cluster_id)["status"] == "running", "a failed function stops nothing"

    client.stop_dask_cluster(cluster_id)
    _wait_for(client, cluster_id, "stopped")
    saturn_connection.state.transition_seconds = 60  # another task's start: it stays pending for this test
    client.start_dask_cluster(cluster_id)

    second = operator(dask_cluster_id=cluster_id, start=True, poll_interval=0.05, timeout=0.5, connect_timeout=1)
    with pytest.raises(Exception):
        second.execute(try_context(2, store))
    assert client.get_dask_cluster(cluster_id)["status"] == "pending", "another task's start was stopped"


def test_review_a_cluster_found_pending_is_never_stopped_when_the_wait_times_out(
    saturn_connection: SaturnEmulator, client: SaturnClient
):
    _, cluster_id = _scripted_cluster(client)
    saturn_connection.state.transition_seconds = 60
    client.start_dask_cluster(cluster_id)
    task = operator(dask_cluster_id=cluster_id, start=True, stop_on_failure=True, poll_interval=0.05, timeout=0.4)
    with pytest.raises(Exception):
        task.execute(try_context(1, DictStore()))
    assert client.get_dask_cluster(cluster_id)["status"] == "pending"


def test_review_a_cluster_running_before_is_never_stopped_when_the_function_fails(
    saturn_connection: SaturnEmulator, client: SaturnClient
):
    _, cluster_id = _scripted_cluster(client)
    client.start_dask_cluster(cluster_id)
    _wait_for(client, cluster_id, "running")
    task = operator(dask_cluster_id=cluster_id, start=True, stop_on_failure=True, poll_interval=0.05, timeout=5)
    task.connect_timeout = 1.0
    with pytest.raises(Exception):
        task.execute(try_context(1, DictStore()))
    assert client.get_dask_cluster(cluster_id)["status"] == "running"


def _kill_when(task: _SaturnDaskDecoratedOperator, ready: Any, limit: float = 10) -> threading.Thread:
    """Call ``on_kill`` from another thread (as Airflow's signal handler would) once ``ready()``; the task runs
    in the test's own thread (Airflow 2.11 refuses an operator's execute outside the thread that made it)."""

    def kill() -> None:
        deadline = time.monotonic() + limit
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        task.on_kill()

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_review_on_kill_during_the_start_stops_only_what_this_task_started(
    saturn_connection: SaturnEmulator, client: SaturnClient
):
    _, mine = _scripted_cluster(client)
    saturn_connection.state.transition_seconds = 60
    task = operator(dask_cluster_id=mine, start=True, stop_on_failure=False, poll_interval=0.05, timeout=1.5)
    killer = _kill_when(task, lambda: task._starter is not None and task._starter._waiting_on is not None)
    with pytest.raises(Exception):
        task.execute(context_for())
    killer.join(timeout=10)
    assert client.get_dask_cluster(mine)["status"] in ("stopping", "stopped"), "the kill stopped its own start"

    project = client.create_project("review-dask-theirs")
    theirs = client.create_dask_cluster(project["id"], n_workers=1)["id"]
    client.start_dask_cluster(theirs)  # another task's start
    task = operator(dask_cluster_id=theirs, start=True, stop_on_failure=True, poll_interval=0.05, timeout=1.0)
    started = time.monotonic()
    killer = _kill_when(task, lambda: task._starter is not None and time.monotonic() - started > 0.5)
    with pytest.raises(Exception):
        task.execute(context_for())
    killer.join(timeout=10)
    assert client.get_dask_cluster(theirs)["status"] == "pending", "a kill stopped a start that was not its own"


def test_review_on_kill_before_anything_started_does_nothing(saturn_connection: SaturnEmulator):
    operator(dask_cluster_id=CLUSTER, start=True).on_kill()
    operator(dask_cluster_id=CLUSTER).on_kill()
    assert saturn_connection.config.stats.requests == 0


# ------------------------------------------------------------------ what the function does with its client


RETURNS_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG("saturn_dask_review", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task.saturn_dask(dask_cluster_id="CLUSTER", connect_timeout=20)
    def careless(dask_client):
        BODY

    careless()
"""


def _run(cluster_id: str, body: str, tmp_path: Any, monkeypatch: Any) -> Any:
    source = RETURNS_DAG.replace("CLUSTER", cluster_id).replace("BODY", body)
    return dag_from_source(source, "saturn_dask_review", tmp_path, monkeypatch).test()


def _clients_left(saturn: SaturnClient, cluster_id: str) -> list[str]:
    with saturn.get_dask_client(cluster_id, timeout=20) as observer:
        clients = observer.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.clients))
        return [name for name in clients if name not in ("fire-and-forget", observer.id)]


@pytest.mark.parametrize(
    "body",
    [
        "return dask_client",
        "return dask_client.submit(sum, [1, 2])",
        "return dask_client.security",
    ],
    ids=["client", "future", "security"],
)
def test_review_returning_the_client_or_a_future_fails_without_the_key_and_closes_it(
    airflow_db, saturn, emulator_dask, tmp_path, monkeypatch, capsys, caplog, body
):
    _, cluster_id = _project_with_cluster(saturn, "review-returns", running=True)
    dag_run = _run(cluster_id, body, tmp_path, monkeypatch)
    logged = capsys.readouterr().out + caplog.text
    assert states(dag_run)["careless"] == "failed", "a client is no XCom"
    assert "PRIVATE KEY" not in logged and "BEGIN CERTIFICATE" not in logged
    assert _clients_left(saturn, cluster_id) == [], "the client was closed"


def test_review_a_function_that_closes_the_client_itself_succeeds(
    airflow_db, saturn, emulator_dask, tmp_path, monkeypatch
):
    _, cluster_id = _project_with_cluster(saturn, "review-closes", running=True)
    body = "value = dask_client.submit(sum, [1, 2]).result()\n        dask_client.close()\n        return value"
    dag_run = _run(cluster_id, body, tmp_path, monkeypatch)
    assert states(dag_run)["careless"] == "success"
    assert dag_run.get_task_instance("careless").xcom_pull(task_ids="careless") == 3


def test_review_runs_in_one_process_leave_no_io_loop_thread(airflow_db, saturn, emulator_dask, tmp_path, monkeypatch):
    _, cluster_id = _project_with_cluster(saturn, "review-threads", running=True)
    _run(cluster_id, "return dask_client.submit(sum, [1]).result()", tmp_path, monkeypatch)  # warm up
    before = sum(thread.name == "IO loop" for thread in threading.enumerate())
    for _ in range(2):
        dag_run = _run(cluster_id, "return dask_client.submit(sum, [1]).result()", tmp_path, monkeypatch)
        assert states(dag_run)["careless"] == "success"
    time.sleep(0.5)
    assert sum(thread.name == "IO loop" for thread in threading.enumerate()) <= before


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_start_saturn_answers_with_error_is_stopped_by_the_start_operator(saturn, deferrable):
    """Saturn's answer to the start is already ``error`` (the real-Dask emulator refuses a cluster over its worker
    bound): the operator fails with Saturn's message and stops what it started, before any wait or deferral."""
    from airflow_provider_saturn.client.errors import SaturnResourceError
    from airflow_provider_saturn.operators.dask import SaturnStartDaskClusterOperator
    from tests.harness import run_operator

    project = saturn.create_project(f"start-error-{'deferrable' if deferrable else 'sync'}")
    cluster = saturn.create_dask_cluster(project["id"], n_workers=17, nthreads=1)
    start = SaturnStartDaskClusterOperator(
        task_id="start", dask_cluster_id=cluster["id"], deferrable=deferrable, poll_interval=0.05, timeout=30
    )
    with pytest.raises(SaturnResourceError, match="the emulator runs at most 16 workers"):
        run_operator(start, try_context(1, DictStore()))
    assert saturn.get_dask_cluster(cluster["id"])["status"] in ("stopping", "stopped")
