"""Start and stop operators: idempotent, waiting or deferred, failing fast, timing out, cleaning up on kill."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError, SaturnWaitTimeoutError
from airflow_provider_saturn.operators import (
    SaturnStartDaskClusterOperator,
    SaturnStartJupyterOperator,
    SaturnStopDaskClusterOperator,
    SaturnStopJupyterOperator,
)
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.conftest import requests_to
from tests.harness import RecordingTI, context_for, defer, run_operator

FAST: Any = {"poll_interval": 0.05, "timeout": 10}


@pytest.fixture
def project(saturn_connection, client: SaturnClient) -> dict:
    created = client.create_project("workspace")
    client.create_dask_cluster(created["id"])
    return client.get_project(created["id"])


def start_jupyter(project: dict, **kwargs) -> SaturnStartJupyterOperator:
    return SaturnStartJupyterOperator(
        task_id="start", jupyter_server_id=project["id"], **{"deferrable": False, **FAST, **kwargs}
    )


def test_start_waits_until_running_and_returns_the_server(project, saturn_connection) -> None:
    server = run_operator(start_jupyter(project))
    assert server["status"] == "running"
    assert server["id"] == project["id"]
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/start") == 1


def test_start_of_a_running_server_sends_no_start(project, saturn_connection, client) -> None:
    client.start_jupyter_server(project["id"])
    time.sleep(0.3)
    assert run_operator(start_jupyter(project))["status"] == "running"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/start") == 1  # the test's own


def test_start_of_a_pending_server_just_waits(project, saturn_connection, client) -> None:
    client.start_jupyter_server(project["id"])
    assert run_operator(start_jupyter(project))["status"] == "running"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/start") == 1


def test_start_without_waiting_returns_pending(project) -> None:
    assert run_operator(start_jupyter(project, wait_for_completion=False))["status"] == "pending"


def test_error_fails_at_once_with_sautrns_message(project, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    threading.Timer(0.3, saturn_connection.fail, ("workspace", project["id"], "Image pull failed")).start()
    started = time.monotonic()
    with pytest.raises(SaturnResourceError, match="Image pull failed"):
        run_operator(start_jupyter(project, timeout=30))
    assert time.monotonic() - started < 5


def test_timeout_names_the_wait_and_the_last_status(project, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    with pytest.raises(SaturnWaitTimeoutError, match=r"Jupyter server .* to be 'running'; last status 'pending'"):
        run_operator(start_jupyter(project, timeout=0.3))


def test_stop_of_a_stopped_server_succeeds_at_once(project, saturn_connection) -> None:
    stopped = run_operator(SaturnStopJupyterOperator(task_id="stop", jupyter_server_id=project["id"], **FAST))
    assert stopped["status"] == "stopped"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 0


def test_stop_waits_until_stopped(project, client) -> None:
    client.start_jupyter_server(project["id"])
    stopped = run_operator(SaturnStopJupyterOperator(task_id="stop", jupyter_server_id=project["id"], **FAST))
    assert stopped["status"] == "stopped"


def test_dask_cluster_start_and_stop_by_project_or_by_id(project, client) -> None:
    cluster_id = project["dask_cluster_id"]
    started = run_operator(SaturnStartDaskClusterOperator(task_id="s", project_id=project["id"], **FAST))
    assert (started["id"], started["status"]) == (cluster_id, "running")
    stopped = run_operator(SaturnStopDaskClusterOperator(task_id="t", dask_cluster_id=cluster_id, **FAST))
    assert stopped["status"] == "stopped"
    with pytest.raises(ValueError, match="exactly one of dask_cluster_id and project_id"):
        SaturnStopDaskClusterOperator(task_id="u")


def test_deferrable_start_defers_after_pushing_xcoms_then_completes(project, saturn_connection) -> None:
    ti = RecordingTI()
    operator = start_jupyter(project, deferrable=True)
    deferred = defer(operator, context_for(ti))
    assert isinstance(deferred.trigger, SaturnStatusTrigger)
    assert deferred.trigger.deadline > time.time() + 5, "an absolute deadline"
    assert deferred.trigger.stop_on_kill is True, "it started the server, so a kill stops it"
    assert ti.order[:4] == ["project_id", "jupyter_server_id", "dask_cluster_id", "saturn_url"], "before the wait"
    server = run_operator(start_jupyter(project, deferrable=True))
    assert server["status"] == "running"


def test_deferrable_start_of_a_running_server_does_not_defer(project, client) -> None:
    client.start_jupyter_server(project["id"])
    time.sleep(0.3)
    assert start_jupyter(project, deferrable=True).execute(context_for())["status"] == "running"


def test_deferred_error_fails_with_sautrns_message(project, saturn_connection) -> None:
    saturn_connection.state.transition_seconds = 30
    operator = start_jupyter(project, deferrable=True)
    deferred = defer(operator, context_for())
    saturn_connection.fail("workspace", project["id"], "Out of capacity")
    import asyncio

    from tests.harness import first_event

    event = asyncio.run(first_event(deferred.trigger)).payload
    with pytest.raises(SaturnResourceError, match="Out of capacity"):
        operator.execute_complete(context_for(), event=event, **deferred.kwargs)


def test_execute_complete_refuses_an_event_that_is_not_its_own(project) -> None:
    operator = start_jupyter(project, deferrable=True)
    with pytest.raises(ValueError, match="Unexpected trigger event"):
        operator.execute_complete(context_for(), event={"status": "success"})
    foreign = {"status": "success", "resource_id": "x" * 32, "target_status": "running", "last_status": "running"}
    with pytest.raises(ValueError, match="does not match"):
        operator.execute_complete(context_for(), event={**foreign, "message": ""})
    # without the deferral's kwargs (as dag.test() on Airflow 3 resumes), the operator still knows its wait
    own = {**foreign, "resource_id": project["id"], "message": "ok"}
    assert operator.execute_complete(context_for(), event=own)["id"] == project["id"]


def test_on_kill_while_waiting_stops_what_it_started(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    operator = start_jupyter(project, timeout=30)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_operator(operator)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 5
    while client.get_jupyter_server(project["id"])["status"] != "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    operator.on_kill()
    worker.join(timeout=10)
    assert client.get_jupyter_server(project["id"])["status"] in ("stopping", "stopped")
    assert failure, "the wait ends once the server is stopped under it"


def test_on_kill_of_a_start_that_started_nothing_stops_nothing(project, saturn_connection) -> None:
    operator = start_jupyter(project)
    operator.on_kill()
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 0


def test_on_kill_never_raises(project, saturn_connection) -> None:
    operator = start_jupyter(project)
    operator._waiting_on = ("jupyter_server", "0" * 32)  # a server that does not exist
    operator.on_kill()


def test_ids_are_templated(project) -> None:
    operator = SaturnStartJupyterOperator(task_id="t", jupyter_server_id="{{ params.pid }}")
    operator.render_template_fields({"params": {"pid": project["id"]}})
    assert operator.jupyter_server_id == project["id"]


def test_a_saturn_outage_during_the_wait_is_waited_out(project, saturn_connection) -> None:
    operator = start_jupyter(project)
    operator.hook.get_conn().retry_policy  # noqa: B018 - built from the connection: 4 attempts per read
    saturn_connection.state.transition_seconds = 0.5
    threading.Timer(0.1, saturn_connection.set_faults, kwargs={"queue": ["error"] * 10}).start()
    assert run_operator(operator)["status"] == "running"


def test_stopping_a_stopped_cluster_by_id_reads_it_once(project, saturn_connection) -> None:
    operator = SaturnStopDaskClusterOperator(task_id="t", dask_cluster_id=project["dask_cluster_id"], **FAST)
    assert run_operator(operator)["status"] == "stopped"
    assert requests_to(saturn_connection, "GET /api/dask_clusters/{id}") == 1
