"""Start and stop operators: idempotent, waiting or deferred, failing fast, timing out, cleaning up on kill."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
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
from tests.harness import RecordingTI, context_for, defer, prepare_thread, run_operator

try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]

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
        prepare_thread()
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
    assert isinstance(failure[0], SaturnResourceError), failure
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/start") == 1, "it did start the server"


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


# ---------------------------------------------------------------- a start that fails stops what it started


def test_a_start_that_goes_into_error_stops_what_it_started(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    threading.Timer(0.3, saturn_connection.fail, ("workspace", project["id"], "Image pull failed")).start()
    with pytest.raises(SaturnResourceError, match="Image pull failed"):  # the original error, still
        run_operator(start_jupyter(project, timeout=30))
    assert client.get_jupyter_server(project["id"])["status"] == "stopping"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 1


def test_a_start_that_times_out_stops_what_it_started(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    with pytest.raises(SaturnWaitTimeoutError, match="last status 'pending'"):
        run_operator(start_jupyter(project, timeout=0.3))
    assert client.get_jupyter_server(project["id"])["status"] == "stopping"


def test_stop_on_failure_false_leaves_it(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    threading.Timer(0.3, saturn_connection.fail, ("workspace", project["id"], "Image pull failed")).start()
    with pytest.raises(SaturnResourceError):
        run_operator(start_jupyter(project, timeout=30, stop_on_failure=False))
    assert client.get_jupyter_server(project["id"])["status"] == "error"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 0


def test_a_failed_wait_on_a_server_started_elsewhere_never_stops_it(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(project["id"])  # someone else's start: the task only waits
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(start_jupyter(project, timeout=0.3))
    assert client.get_jupyter_server(project["id"])["status"] == "pending"
    assert requests_to(saturn_connection, "POST /api/workspaces/{id}/stop") == 0


def test_a_deferred_start_that_fails_stops_what_it_started(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    operator = start_jupyter(project, deferrable=True, timeout=30)
    deferred = defer(operator, context_for())
    assert deferred.kwargs["started_here"] is True
    saturn_connection.fail("workspace", project["id"], "Out of capacity")
    import asyncio

    from tests.harness import first_event

    event = asyncio.run(first_event(deferred.trigger)).payload
    with pytest.raises(SaturnResourceError, match="Out of capacity"):
        operator.execute_complete(context_for(), event=event, **deferred.kwargs)
    assert client.get_jupyter_server(project["id"])["status"] == "stopping"


@pytest.mark.parametrize("started_here", [True, False], ids=["started-here", "started-elsewhere"])
def test_a_deferred_timeout_without_the_deferral_kwargs_uses_the_events_word(
    project, saturn_connection, client, started_here: bool
) -> None:
    """``dag.test()`` resumes with the event only: the trigger's echo of ``started_here`` decides."""
    saturn_connection.state.transition_seconds = 30
    client.start_jupyter_server(project["id"])
    trigger = SaturnStatusTrigger(
        resource_kind="jupyter_server",
        resource_id=project["id"],
        target_status="running",
        deadline=time.time() + 0.2,
        poll_interval=0.05,
        stop_on_kill=started_here,
    )
    import asyncio

    from tests.harness import first_event

    event = asyncio.run(first_event(trigger)).payload
    with pytest.raises(SaturnWaitTimeoutError):
        start_jupyter(project, deferrable=True).execute_complete(context_for(), event=event)
    stops = requests_to(saturn_connection, "POST /api/workspaces/{id}/stop")
    assert stops == (1 if started_here else 0)


def test_a_dask_cluster_start_that_fails_stops_the_cluster(project, saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    cluster_id = project["dask_cluster_id"]
    threading.Timer(0.3, saturn_connection.fail, ("dask_cluster", cluster_id, "No workers")).start()
    with pytest.raises(SaturnResourceError, match="No workers"):
        run_operator(SaturnStartDaskClusterOperator(task_id="s", dask_cluster_id=cluster_id, **FAST))
    assert client.get_dask_cluster(cluster_id)["status"] == "stopping"


# ---------------------------------------------------------------- logs


def test_a_sync_wait_logs_the_final_state(project, capsys) -> None:
    run_operator(start_jupyter(project))
    assert re.search(rf"Saturn Jupyter server {project['id']} is running\s", capsys.readouterr().out)


# ---------------------------------------------------------------- no id


NO_IDS = [None, "None", "", "  "]


@pytest.mark.parametrize("no_id", NO_IDS)
@pytest.mark.parametrize(
    ("operator_class", "argument"),
    [
        (SaturnStopJupyterOperator, "jupyter_server_id"),
        (SaturnStopDaskClusterOperator, "project_id"),
        (SaturnStopDaskClusterOperator, "dask_cluster_id"),
    ],
)
def test_a_clean_up_stop_without_an_id_skips_before_any_request(
    saturn_connection, capsys, operator_class, argument: str, no_id
) -> None:
    operator = operator_class(task_id="stop", trigger_rule="all_done", **{argument: "{{ params.id }}"}, **FAST)
    operator.render_template_fields({"params": {"id": no_id}})
    if no_id is None:
        setattr(operator, argument, None)  # as a native-object template renders a missing XCom
    with pytest.raises(AirflowSkipException, match=f"No {argument}"):
        run_operator(operator)
    assert saturn_connection.config.stats.requests == 0
    assert f"No {argument}" in capsys.readouterr().out


@pytest.mark.parametrize("no_id", NO_IDS)
def test_a_stop_that_needs_its_upstream_to_succeed_fails_at_once_without_an_id(saturn_connection, no_id) -> None:
    operator = SaturnStopJupyterOperator(task_id="stop", jupyter_server_id=no_id, **FAST)  # all_success
    with pytest.raises(ValueError, match="got no jupyter_server_id"):
        run_operator(operator)
    assert saturn_connection.config.stats.requests == 0


@pytest.mark.parametrize("no_id", NO_IDS)
@pytest.mark.parametrize("trigger_rule", ["all_success", "all_done"])
def test_a_start_without_an_id_fails_at_once(saturn_connection, no_id, trigger_rule: str) -> None:
    start = SaturnStartJupyterOperator(task_id="s", jupyter_server_id=no_id, trigger_rule=trigger_rule, **FAST)
    with pytest.raises(ValueError, match="got no jupyter_server_id"):
        run_operator(start)
    dask = SaturnStartDaskClusterOperator(task_id="d", project_id="{{ params.id }}", trigger_rule=trigger_rule, **FAST)
    dask.render_template_fields({"params": {"id": no_id}})
    with pytest.raises(ValueError, match="got no project_id"):
        run_operator(dask)
    assert saturn_connection.config.stats.requests == 0


def test_a_non_positive_timeout_or_poll_interval_is_refused() -> None:
    for name in ("timeout", "poll_interval"):
        for bad in (0, -1, timedelta(0)):
            settings: Any = {name: bad}
            with pytest.raises(ValueError, match=f"{name} must be positive"):
                SaturnStartJupyterOperator(task_id="s", jupyter_server_id="x", **settings)
