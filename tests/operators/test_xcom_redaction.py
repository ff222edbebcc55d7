"""No secret of a Saturn resource (environment variable values, start scripts, commands, config file contents,
package indexes with credentials...) reaches XCom."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.operators import (
    SaturnCreateJobOperator,
    SaturnCreateProjectOperator,
    SaturnStartDaskClusterOperator,
    SaturnStartDeploymentOperator,
    SaturnStartJupyterOperator,
    SaturnStopJupyterOperator,
    SaturnUpdateProjectOperator,
)
from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.xcom_values import REDACTED, xcom_safe
from tests.conftest import TOKEN
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


# ------------------------------------------------------------------ files, packages and repositories (issue 14.5)

AWS_KEY = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
PIP_TOKEN = "pypi-AgEIcHlwaS5vcmcCJGE4"
CONFIG_FILES: Any = {
    ".aws/credentials": {"content": f"[default]\naws_secret_access_key = {AWS_KEY}\n", "mode": "0600"},
    ".netrc": {"content": f"machine pypi.example.com login me password {PIP_TOKEN}", "mode": "0600"},
}
EXTRA_PACKAGES: Any = {"pip": f"--extra-index-url https://me:{PIP_TOKEN}@pypi.example.com/simple private-pkg"}
WORKLOAD_SECRETS: Any = {"config_files": CONFIG_FILES, "extra_packages": EXTRA_PACKAGES, **SECRETS}


def assert_no_file_or_package_secret(value: Any) -> None:
    text = json.dumps(value)
    for secret in (AWS_KEY, PIP_TOKEN, PASSWORD, SCRIPT_SECRET):
        assert secret not in text


def assert_files_named_but_hidden(workload: dict[str, Any]) -> None:
    assert workload["config_files"] == {
        ".aws/credentials": {"content": REDACTED, "mode": "0600"},
        ".netrc": {"content": REDACTED, "mode": "0600"},
    }, "the paths and modes stay readable"


def _post(saturn_connection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{saturn_connection.url}{path}", json=body, headers={"Authorization": f"token {TOKEN}"}, timeout=5
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["config_files"] == CONFIG_FILES, "the emulator keeps and echoes config_files as Saturn does"
    return created


@pytest.mark.parametrize("if_exists", ["reuse", "update"])
def test_create_job_operator_pushes_no_config_file_or_package_index_secret(saturn_connection, if_exists) -> None:
    _post(saturn_connection, "/api/jobs", {"name": "nightly", "command": "echo hi", **WORKLOAD_SECRETS})
    ti = RecordingTI()
    operator = SaturnCreateJobOperator(task_id="job", name="nightly", command="echo hi", if_exists=if_exists)
    job = run_operator(operator, context_for(ti))
    assert_no_file_or_package_secret(job)
    assert_no_file_or_package_secret(ti.pushed)
    assert_files_named_but_hidden(job)
    assert job["extra_packages"]["pip"] == REDACTED


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_start_deployment_operator_pushes_no_config_file_secret(saturn_connection, deferrable) -> None:
    deployment = _post(
        saturn_connection, "/api/deployments", {"name": "api", "command": "python serve.py", **WORKLOAD_SECRETS}
    )
    ti = RecordingTI()
    operator = SaturnStartDeploymentOperator(
        task_id="start", deployment_id=deployment["id"], deferrable=deferrable, **FAST
    )
    started = run_operator(operator, context_for(ti))
    assert started["status"] == "running"
    assert_no_file_or_package_secret(started)
    assert_no_file_or_package_secret(ti.pushed)
    assert_files_named_but_hidden(started)
