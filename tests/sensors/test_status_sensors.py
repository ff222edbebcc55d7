"""Sensors in poke, reschedule and deferrable modes; ``error`` fails at once unless it is the target."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from airflow_provider_saturn.client import SaturnResourceError
from airflow_provider_saturn.sensors import SaturnDaskClusterSensor, SaturnJupyterServerSensor
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.harness import context_for, defer, run_operator


@pytest.fixture
def workspace(saturn_connection, client) -> dict:
    project = client.create_project("sensed")
    client.create_dask_cluster(project["id"])
    return client.get_project(project["id"])


def jupyter_sensor(workspace: dict, **kwargs) -> SaturnJupyterServerSensor:
    settings = {"poke_interval": 0.05, "timeout": 10, "deferrable": False, **kwargs}
    return SaturnJupyterServerSensor(task_id="sense", jupyter_server_id=workspace["id"], **settings)


def test_poke_is_false_until_the_target_status(workspace, client) -> None:
    sensor = jupyter_sensor(workspace)
    assert sensor.poke(context_for()) is False
    client.start_jupyter_server(workspace["id"])
    time.sleep(0.3)
    assert sensor.poke(context_for()) is True


def test_poke_mode_waits_for_a_start_elsewhere(workspace, client) -> None:
    client.start_jupyter_server(workspace["id"])
    run_operator(jupyter_sensor(workspace, mode="poke"))
    assert client.get_jupyter_server(workspace["id"])["status"] == "running"


def test_a_stopped_server_is_not_a_failure_for_a_sensor(workspace) -> None:
    with pytest.raises(Exception, match=r"(?i)timed out|timeout"):
        run_operator(jupyter_sensor(workspace, timeout=0.3))


def test_error_fails_at_once_unless_it_is_the_target(workspace, saturn_connection) -> None:
    saturn_connection.fail("workspace", workspace["id"], "Disk full")
    with pytest.raises(SaturnResourceError, match="Disk full"):
        jupyter_sensor(workspace).poke(context_for())
    assert jupyter_sensor(workspace, target_status="error").poke(context_for()) is True


def test_dask_cluster_sensor_for_stopped(workspace, client) -> None:
    sensor = SaturnDaskClusterSensor(
        task_id="dask", dask_cluster_id=workspace["dask_cluster_id"], target_status="stopped", poke_interval=0.05
    )
    assert sensor.poke(context_for()) is True


def test_deferrable_mode_defers_then_completes(workspace, client) -> None:
    sensor = jupyter_sensor(workspace, deferrable=True)
    deferred = defer(sensor, context_for())
    assert isinstance(deferred.trigger, SaturnStatusTrigger)
    assert deferred.trigger.strict is False
    assert deferred.trigger.poll_interval == 0.05
    client.start_jupyter_server(workspace["id"])
    run_operator(jupyter_sensor(workspace, deferrable=True))


def test_deferrable_mode_does_not_defer_when_already_there(workspace, client) -> None:
    client.start_jupyter_server(workspace["id"])
    time.sleep(0.3)
    assert jupyter_sensor(workspace, deferrable=True).execute(context_for()) is None


def test_bad_target_status_is_refused() -> None:
    with pytest.raises(ValueError, match="target_status must be one of"):
        SaturnJupyterServerSensor(task_id="s", jupyter_server_id="x", target_status="started")


def test_poke_says_jupyter_server_as_the_operators_do(workspace, capsys) -> None:
    jupyter_sensor(workspace).poke(context_for())
    assert f"Saturn Jupyter server {workspace['id']} is stopped" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["poke_interval", "timeout"])
@pytest.mark.parametrize("bad", [0, 0.0, -1, timedelta(0)])
def test_a_non_positive_poke_interval_or_timeout_is_refused(name: str, bad) -> None:
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        SaturnJupyterServerSensor(task_id="s", jupyter_server_id="x", **{name: bad})
    with pytest.raises(ValueError, match=f"{name} must be positive"):  # also when it comes from default_args
        SaturnDaskClusterSensor(task_id="d", dask_cluster_id="x", default_args={name: bad})


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize("no_id", [None, "None", "", "  "])
def test_a_sensor_without_an_id_fails_at_once(saturn_connection, no_id, deferrable: bool) -> None:
    sensor = SaturnJupyterServerSensor(
        task_id="s", jupyter_server_id="{{ params.id }}", poke_interval=0.05, timeout=5, deferrable=deferrable
    )
    sensor.render_template_fields({"params": {"id": no_id}})
    started = time.monotonic()
    with pytest.raises(ValueError, match="got no jupyter_server_id"):
        run_operator(sensor)
    assert time.monotonic() - started < 2
    assert saturn_connection.config.stats.requests == 0
