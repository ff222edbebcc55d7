"""SaturnJobRunSensor and SaturnDeploymentSensor: poke, deferred; a run that will never complete fails at once."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError, statuses
from airflow_provider_saturn.sensors import SaturnJobRunSensor
from tests.harness import run_operator


def sensor(run: dict[str, Any], deferrable: bool, **kwargs: Any) -> SaturnJobRunSensor:
    return SaturnJobRunSensor(
        task_id="wait",
        job_id=run["job_id"],
        run_name=run["run_name"],
        deferrable=deferrable,
        poke_interval=0.05,
        timeout=15,
        **kwargs,
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_waits_for_the_run_to_complete(saturn_connection, client: SaturnClient, deferrable: bool) -> None:
    job = client.create_job("sensed", "sleep 0.5")
    run = client.start_job(job["id"])
    run_operator(sensor(run, deferrable))
    assert client.get_job_run(job["id"], run["run_name"])["status"] == "completed"


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_stopped_run_fails_the_sensor_at_once(saturn_connection, client: SaturnClient, deferrable: bool) -> None:
    job = client.create_job("stopped", "sleep 30")
    run = client.start_job(job["id"])
    client.stop_job_run(job["id"], run["run_name"])
    with pytest.raises(SaturnResourceError, match="will never be 'completed'"):
        run_operator(sensor(run, deferrable))


def test_targets_are_those_of_a_job_run(saturn_connection) -> None:
    with pytest.raises(ValueError, match="target_status must be one of"):
        SaturnJobRunSensor(task_id="x", job_id="j", run_name="r", target_status="closed")
    with pytest.raises(ValueError, match="got no run_name"):
        run_operator(SaturnJobRunSensor(task_id="x", job_id="j", run_name="None", poke_interval=1, timeout=5))


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_a_status_saturn_does_not_know_fails_the_sensor_after_the_grace(
    saturn_connection, client: SaturnClient, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    monkeypatch.setattr(statuses, "UNKNOWN_STATUS_GRACE", 0.3)
    job = client.create_job("mystery", "sleep 30")
    run = client.start_job(job["id"])
    with saturn_connection.state.lock:
        saturn_connection.state.jobs.report_status(job["id"], run["run_name"], "Exploded")
    with pytest.raises(SaturnResourceError, match="'exploded'"):
        run_operator(sensor(run, deferrable))
