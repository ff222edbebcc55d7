"""Deployments around a pipeline: start and stop, idempotent, waiting or deferred, by id or by name."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError
from airflow_provider_saturn.operators import SaturnStartDeploymentOperator, SaturnStopDeploymentOperator
from tests.conftest import TOKEN, requests_to
from tests.harness import RecordingTI, context_for, run_operator

try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]

FAST: Any = {"poll_interval": 0.05, "timeout": 10}


@pytest.fixture
def deployment(saturn_connection) -> dict[str, Any]:
    response = requests.post(
        f"{saturn_connection.url}/api/deployments",
        json={"name": "features-api", "command": "python serve.py"},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_start_and_stop_are_idempotent(deployment, saturn_connection, client: SaturnClient, deferrable) -> None:
    def start() -> dict[str, Any]:
        operator = SaturnStartDeploymentOperator(
            task_id="start", deployment_id=deployment["id"], deferrable=deferrable, **FAST
        )
        return run_operator(operator)

    def stop() -> dict[str, Any]:
        operator = SaturnStopDeploymentOperator(
            task_id="stop", deployment_name="features-api", deferrable=deferrable, **FAST
        )
        return run_operator(operator)

    assert start()["status"] == "running"
    assert start()["status"] == "running"
    assert requests_to(saturn_connection, "POST /api/deployments/{id}/start") == 1, "the second start only looked"
    assert stop()["status"] == "stopped"
    assert stop()["status"] == "stopped"
    assert requests_to(saturn_connection, "POST /api/deployments/{id}/stop") == 1
    assert client.get_deployment(deployment["id"])["status"] == "stopped"


def test_start_pushes_the_link_and_a_failure_stops_what_it_started(deployment, saturn_connection, client) -> None:
    saturn_connection.configure(transition_seconds=10)  # still pending when the failure comes, however loaded
    ti = RecordingTI()
    operator = SaturnStartDeploymentOperator(
        task_id="start", deployment_id=deployment["id"], deferrable=False, poll_interval=0.05, timeout=10
    )
    import threading

    def fail_soon() -> None:
        import time

        deadline = time.monotonic() + 5
        while "deployment_id" not in ti.pushed and time.monotonic() < deadline:
            time.sleep(0.01)
        saturn_connection.fail("deployment", deployment["id"], "Image pull failed")

    threading.Thread(target=fail_soon, daemon=True).start()
    with pytest.raises(SaturnResourceError, match="Image pull failed"):
        run_operator(operator, context_for(ti))
    assert ti.pushed["saturn_url"].endswith(f"/dash/resources/deployment/{deployment['id']}")
    assert client.get_deployment(deployment["id"])["status"] in ("stopping", "stopped")


def test_a_clean_up_stop_without_an_id_skips(saturn_connection) -> None:
    operator = SaturnStopDeploymentOperator(task_id="stop", deployment_id="None", trigger_rule="all_done")
    with pytest.raises(AirflowSkipException):
        run_operator(operator)
    assert saturn_connection.config.stats.requests == 0


def test_exactly_one_of_id_and_name(saturn_connection) -> None:
    with pytest.raises(ValueError, match="exactly one of deployment_id and deployment_name"):
        SaturnStartDeploymentOperator(task_id="x")
    with pytest.raises(ValueError, match="Saturn has no deployment named 'nope'"):
        run_operator(SaturnStartDeploymentOperator(task_id="x", deployment_name="nope", deferrable=False))
