"""What keeps a real deployment boring: a wait that ends inside ``execution_timeout`` (so the task can still
stop what it started, which Airflow's own timeout of a deferred task would not), and a retry that treats
what an earlier try started as its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnWaitTimeoutError
from airflow_provider_saturn.operators import SaturnStartJupyterOperator
from tests.harness import DagRunStarted, DictStore, RecordingTI, TryOf, context_for, run_operator


@pytest.fixture
def slow_project(saturn_connection, client: SaturnClient) -> dict[str, Any]:
    saturn_connection.state.transition_seconds = 60  # it never gets to running in these tests
    return client.create_project("slow")


def start(project: dict[str, Any], **kwargs: Any) -> SaturnStartJupyterOperator:
    return SaturnStartJupyterOperator(
        task_id="start", jupyter_server_id=project["id"], poll_interval=0.05, **{"timeout": 600, **kwargs}
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_the_wait_ends_inside_execution_timeout_and_stops_what_it_started(
    slow_project, client: SaturnClient, deferrable: bool
) -> None:
    operator = start(slow_project, deferrable=deferrable, execution_timeout=timedelta(seconds=7))
    context = context_for()
    operator.pre_execute(context)
    with pytest.raises(SaturnWaitTimeoutError) as caught:
        run_operator(operator, context)
    assert "Timed out" in str(caught.value)
    assert client.get_jupyter_server(slow_project["id"])["status"] in ("stopping", "stopped")


def test_without_execution_timeout_the_wait_keeps_its_own_timeout(slow_project) -> None:
    operator = start(slow_project, timeout=600)
    operator.pre_execute(context_for())
    import time

    assert operator.wait_deadline() == pytest.approx(time.time() + 600, abs=2)
    bounded = start(slow_project, timeout=600, execution_timeout=timedelta(seconds=100))
    bounded.pre_execute(context_for())
    assert bounded.wait_deadline() == pytest.approx(time.time() + 100 - 0.05 - 5, abs=2)


def test_a_retry_treats_the_server_its_earlier_try_started_as_its_own(slow_project, client) -> None:
    store = DictStore()

    def try_once(**kwargs: Any) -> None:
        context = {**context_for(RecordingTI()), "task_state_store": store}
        with pytest.raises(SaturnWaitTimeoutError):
            run_operator(start(slow_project, deferrable=False, timeout=0.3, **kwargs), context)

    try_once(stop_on_failure=False)  # the first try dies; the server goes on starting
    assert client.get_jupyter_server(slow_project["id"])["status"] == "pending"
    try_once()  # the retry finds it starting: its own, so stopped when the retry fails too
    assert client.get_jupyter_server(slow_project["id"])["status"] in ("stopping", "stopped")


def test_without_a_record_a_server_found_starting_is_not_stopped(slow_project, client) -> None:
    client.start_jupyter_server(slow_project["id"])  # someone else started it
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(
            start(slow_project, deferrable=False, timeout=0.3), {**context_for(), "task_state_store": DictStore()}
        )
    assert client.get_jupyter_server(slow_project["id"])["status"] == "pending"


def create_project(**kwargs: Any) -> Any:
    from airflow_provider_saturn.operators import SaturnCreateProjectOperator

    return SaturnCreateProjectOperator(task_id="create", name="made-once", **kwargs)


def create_job(**kwargs: Any) -> Any:
    from airflow_provider_saturn.operators import SaturnCreateJobOperator

    return SaturnCreateJobOperator(task_id="create", name="made-once", command="echo one", **kwargs)


CREATES = {"project": (create_project, "POST /api/workspaces"), "job": (create_job, "POST /api/jobs")}


@pytest.mark.parametrize("kind", sorted(CREATES))
def test_a_retry_carries_on_with_what_its_earlier_try_created(saturn_connection, kind: str) -> None:
    from tests.conftest import requests_to

    make, route = CREATES[kind]
    store = DictStore()
    first = run_operator(make(), {**context_for(), "task_state_store": store})  # then the worker dies
    again = run_operator(make(), {**context_for(TryOf(2)), "task_state_store": store})  # if_exists="fail"
    assert again["id"] == first["id"]
    assert requests_to(saturn_connection, route) == 1


@pytest.mark.parametrize("kind", sorted(CREATES))
def test_a_name_taken_by_someone_else_still_fails(saturn_connection, client, kind: str) -> None:
    make, _ = CREATES[kind]
    run_operator(make())  # another task, another DAG: this task's store has no record of it
    with pytest.raises(ValueError, match="already exists"):
        run_operator(make(), {**context_for(TryOf(2)), "task_state_store": DictStore()})


@pytest.mark.parametrize("kind", sorted(CREATES))
def test_without_a_store_a_later_try_takes_what_was_created_in_this_dag_run(saturn_connection, kind: str) -> None:
    make, _ = CREATES[kind]
    first = run_operator(make(), {**context_for(), "dag_run": DagRunStarted(seconds_ago=5)})
    later = {**context_for(TryOf(2)), "dag_run": DagRunStarted(seconds_ago=5)}
    assert run_operator(make(), later)["id"] == first["id"]
    with pytest.raises(ValueError, match="already exists"):  # the first try of the task: not its own
        run_operator(make(), {**context_for(), "dag_run": DagRunStarted(seconds_ago=5)})
    with pytest.raises(ValueError, match="already exists"):  # created before this DAG run started
        run_operator(make(), {**context_for(TryOf(2)), "dag_run": DagRunStarted(seconds_ago=-60)})


@pytest.mark.parametrize("run_name", ["", "../x", "a?b", "a/b", None, 7])
def test_a_damaged_record_of_a_run_is_refused_or_ignored_never_sent(saturn_connection, client, run_name) -> None:
    """The store's record is read back as input: a run name that is no run name is never put in a URL."""
    from airflow_provider_saturn.client.errors import SaturnInvalidIdError
    from airflow_provider_saturn.operators import SaturnRunJobOperator
    from airflow_provider_saturn.reattach import JOB_RUN_KEY
    from tests.conftest import requests_to

    job = client.create_job("recorded", "echo done")
    store = DictStore()
    store.set(JOB_RUN_KEY, {"job_id": job["id"], "run_name": run_name})
    operator = SaturnRunJobOperator(task_id="run", job_id=job["id"], deferrable=False, poll_interval=0.05, timeout=20)
    context = {**context_for(TryOf(2, 1)), "task_state_store": store}
    if isinstance(run_name, str):
        with pytest.raises(SaturnInvalidIdError, match="run_name"):
            run_operator(operator, context)
        routes = saturn_connection.config.stats.by_route
        assert not [route for route in routes if route.startswith(("GET /api/jobs/{id}/", "POST /api/jobs/{id}/"))]
    else:  # not a name at all: no record; the task runs the job
        assert run_operator(operator, context)["status"] == "completed"
        assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 1


@pytest.mark.parametrize("created_at", ["", "yesterday", None, 0, ["2026-01-01"], "2026-13-45T99:00:00Z"])
def test_an_odd_creation_time_never_makes_a_project_this_tasks_own(created_at: Any) -> None:
    from airflow_provider_saturn.reattach import created_by_earlier_try

    context = {**context_for(TryOf(2)), "dag_run": DagRunStarted()}
    assert not created_by_earlier_try(context, "project", {"id": "a" * 32, "created_at": created_at})
    fresh = DagRunStarted().start_date.isoformat()
    assert created_by_earlier_try(context, "project", {"id": "a" * 32, "created_at": fresh})


def test_a_start_that_succeeded_is_forgotten_so_a_later_try_never_stops_anothers_start(
    saturn_connection, client: SaturnClient
) -> None:
    """Try 1 started the server and saw it run; someone stops it and someone else starts it again; a later try of
    the task (a clear, or a retry after a later step failed) finds it starting: not its own, so never stopped."""
    saturn_connection.state.transition_seconds = 0.2
    project = client.create_project("started-once")
    store = DictStore()
    run_operator(
        start(project, deferrable=False, timeout=30), {**context_for(RecordingTI()), "task_state_store": store}
    )
    assert client.get_jupyter_server(project["id"])["status"] == "running"
    client.stop_jupyter_server(project["id"])
    import time

    deadline = time.monotonic() + 10
    while client.get_jupyter_server(project["id"])["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    saturn_connection.state.transition_seconds = 60  # the next start stays pending
    client.start_jupyter_server(project["id"])  # another task's start
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(
            start(project, deferrable=False, timeout=0.3), {**context_for(TryOf(2)), "task_state_store": store}
        )
    assert client.get_jupyter_server(project["id"])["status"] == "pending", "another's start is never stopped"
