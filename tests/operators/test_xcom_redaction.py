"""No secret of a Saturn resource (environment variable values, start scripts, commands) reaches XCom."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStartJupyterOperator,
    SaturnStopJupyterOperator,
    SaturnUpdateProjectOperator,
)
from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.xcom_values import REDACTED, xcom_safe
from tests.harness import RecordingTI, context_for, run_operator

PASSWORD = "hunter2"
SCRIPT_SECRET = "s3cr3t-in-the-start-script"
SECRETS: Any = {"environment_variables": {"DB_PASSWORD": PASSWORD}, "start_script": f"export API_KEY={SCRIPT_SECRET}"}
FAST: Any = {"poll_interval": 0.05, "timeout": 10}


def assert_secret_free(value: Any) -> None:
    text = json.dumps(value)
    assert PASSWORD not in text
    assert SCRIPT_SECRET not in text


@pytest.fixture
def secret_project(saturn_connection, client: SaturnClient) -> dict:
    project = client.create_project("with-secrets", **SECRETS)
    client.create_dask_cluster(project["id"])
    return client.get_project(project["id"])


def test_create_returns_and_pushes_no_secret_but_keeps_the_names(saturn_connection, client) -> None:
    ti = RecordingTI()
    operator = SaturnCreateProjectOperator(task_id="create", name="p", dask_cluster={"n_workers": 1}, **SECRETS)
    project = run_operator(operator, context_for(ti))
    assert_secret_free(project)
    assert_secret_free(ti.pushed)
    assert project["environment_variables"] == {"DB_PASSWORD": REDACTED}
    assert project["start_script"] == REDACTED
    assert project["dask_cluster"]["id"] == project["dask_cluster_id"], "the rest is untouched"
    full = client.get_project(project["id"])  # Saturn, the client and the hook keep the values
    assert (full["environment_variables"], full["start_script"]) == (
        SECRETS["environment_variables"],
        SECRETS["start_script"],
    )


def test_update_returns_no_secret(secret_project) -> None:
    updated = run_operator(
        SaturnUpdateProjectOperator(task_id="update", project_id=secret_project["id"], description="v2", **SECRETS)
    )
    assert_secret_free(updated)
    assert updated["description"] == "v2"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_start_and_stop_return_no_secret(secret_project, deferrable: bool) -> None:
    ti = RecordingTI()
    server_id = secret_project["id"]
    started = run_operator(
        SaturnStartJupyterOperator(task_id="start", jupyter_server_id=server_id, deferrable=deferrable, **FAST),
        context_for(ti),
    )
    assert started["status"] == "running"
    stopped = run_operator(
        SaturnStopJupyterOperator(task_id="stop", jupyter_server_id=server_id, deferrable=deferrable, **FAST),
        context_for(ti),
    )
    assert stopped["status"] == "stopped"
    for value in (started, stopped, ti.pushed):
        assert_secret_free(value)


def test_dask_cluster_start_returns_no_secret(secret_project) -> None:
    cluster = run_operator(SaturnStartDaskClusterOperator(task_id="dask", project_id=secret_project["id"], **FAST))
    assert cluster["status"] == "running"
    assert_secret_free(cluster)


def test_the_rule_reaches_nested_dicts_lists_and_later_kinds() -> None:
    job = {
        "id": "j",
        "command": f"python run.py --token {SCRIPT_SECRET}",
        "environment_variables": {"DB_PASSWORD": PASSWORD},
        "dask_cluster": {"id": "d", "environment_variables": {"DB_PASSWORD": PASSWORD}, "start_script": SCRIPT_SECRET},
        "runs": [{"environment_variables": [{"name": "DB_PASSWORD", "value": PASSWORD}]}],
        "start_script": None,
    }
    safe = xcom_safe(job)
    assert_secret_free(safe)
    assert safe["command"] == REDACTED
    assert safe["dask_cluster"] == {
        "id": "d",
        "environment_variables": {"DB_PASSWORD": REDACTED},
        "start_script": REDACTED,
    }
    assert safe["runs"] == [{"environment_variables": [{"name": "DB_PASSWORD", "value": REDACTED}]}]
    assert safe["start_script"] is None, "no script still reads as no script"
    assert job["environment_variables"] == {"DB_PASSWORD": PASSWORD}, "the input is not changed"


def test_a_new_operator_returns_through_the_rule_without_asking(saturn_connection) -> None:
    class SaturnFutureOperator(SaturnBaseOperator):
        def execute(self, context: Any) -> dict[str, Any]:
            return {"environment_variables": {"DB_PASSWORD": PASSWORD}}

    assert run_operator(SaturnFutureOperator(task_id="future")) == {"environment_variables": {"DB_PASSWORD": REDACTED}}
