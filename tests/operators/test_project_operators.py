"""Projects as code: idempotent create, update, delete; templates; XComs."""

from __future__ import annotations

import pytest

from airflow_provider_saturn.client import SaturnInvalidOptionError, SaturnNotFoundError
from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnDeleteProjectOperator,
    SaturnUpdateProjectOperator,
)
from tests.conftest import requests_to
from tests.harness import RecordingTI, context_for, run_operator

try:
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]


def create(**kwargs) -> SaturnCreateProjectOperator:
    return SaturnCreateProjectOperator(task_id="create", name=kwargs.pop("name", "proj"), **kwargs)


def test_create_returns_the_project_and_pushes_its_ids(saturn_connection) -> None:
    ti = RecordingTI()
    project = run_operator(create(jupyter_size="large", dask_cluster={"n_workers": 2}), context_for(ti))
    assert project["name"] == "proj"
    assert project["dask_cluster_id"]
    assert ti.pushed["project_id"] == project["id"]
    assert ti.pushed["jupyter_server_id"] == project["id"]
    assert ti.pushed["dask_cluster_id"] == project["dask_cluster_id"]
    assert ti.pushed["saturn_url"] == f"{saturn_connection.url}/dash/resources/workspace/{project['id']}"


def test_create_with_reuse_twice_makes_one_project_and_one_cluster(saturn_connection) -> None:
    first = run_operator(create(if_exists="reuse", dask_cluster={"n_workers": 1}))
    second = run_operator(create(if_exists="reuse", dask_cluster={"n_workers": 1}))
    assert first["id"] == second["id"]
    assert first["dask_cluster_id"] == second["dask_cluster_id"]
    assert len(saturn_connection.state.workspaces) == 1
    assert len(saturn_connection.state.dask_clusters) == 1


def test_create_with_fail_refuses_an_existing_name(saturn_connection) -> None:
    run_operator(create())
    with pytest.raises(ValueError, match=r"already exists.*if_exists"):
        run_operator(create(if_exists="fail"))


def test_create_with_update_applies_the_settings(saturn_connection) -> None:
    run_operator(create(jupyter_size="medium"))
    updated = run_operator(create(if_exists="update", jupyter_size="xlarge", description="v2"))
    assert (updated["instance_size"], updated["description"]) == ("xlarge", "v2")
    assert len(saturn_connection.state.workspaces) == 1


def test_bad_arguments_fail_before_any_request(saturn_connection) -> None:
    with pytest.raises(ValueError, match="if_exists must be one of"):
        create(if_exists="replace")
    with pytest.raises(ValueError, match="Unknown dask_cluster settings"):
        create(dask_cluster={"workers": 2})
    with pytest.raises(SaturnInvalidOptionError, match="Options are"):
        run_operator(create(jupyter_size="huge"))
    assert requests_to(saturn_connection, "POST /api/workspaces") == 0


def test_update_operator(saturn_connection, client) -> None:
    project = run_operator(create())
    updated = run_operator(
        SaturnUpdateProjectOperator(task_id="update", project_id=project["id"], environment_variables={"a": "1"})
    )
    assert updated["environment_variables"] == {"A": "***"}, "the name stays, the value is not XCom'd"
    assert client.get_project(project["id"])["environment_variables"] == {"A": "1"}, "Saturn has the value"


def test_delete_and_ignore_missing(saturn_connection) -> None:
    project = run_operator(create())
    run_operator(SaturnDeleteProjectOperator(task_id="delete", project_id=project["id"]))
    assert saturn_connection.state.workspaces == {}
    run_operator(SaturnDeleteProjectOperator(task_id="again", project_id=project["id"], ignore_missing=True))
    with pytest.raises(SaturnNotFoundError, match=project["id"]):
        run_operator(SaturnDeleteProjectOperator(task_id="strict", project_id=project["id"]))


def test_ids_and_settings_are_templated() -> None:
    operator = create(name="{{ params.name }}", description="for {{ ds }}", environment_variables={"day": "{{ ds }}"})
    operator.render_template_fields({"params": {"name": "rendered"}, "ds": "2026-11-26"})
    assert operator.name == "rendered"
    assert operator.description == "for 2026-11-26"
    assert operator.environment_variables == {"day": "2026-11-26"}
    delete = SaturnDeleteProjectOperator(task_id="d", project_id="{{ params.pid }}")
    delete.render_template_fields({"params": {"pid": "abc"}})
    assert delete.project_id == "abc"


@pytest.mark.parametrize("no_id", [None, "None", "", "  "])
def test_a_clean_up_delete_without_an_id_skips_and_a_plain_one_fails(saturn_connection, no_id) -> None:
    cleanup = SaturnDeleteProjectOperator(task_id="delete", project_id="{{ params.id }}", trigger_rule="all_done")
    cleanup.render_template_fields({"params": {"id": no_id}})
    with pytest.raises(AirflowSkipException, match="No project_id"):
        run_operator(cleanup)
    with pytest.raises(ValueError, match="got no project_id"):
        run_operator(SaturnDeleteProjectOperator(task_id="delete", project_id=no_id, ignore_missing=True))
    with pytest.raises(ValueError, match="got no project_id"):
        run_operator(SaturnUpdateProjectOperator(task_id="update", project_id=no_id, description="x"))
    assert saturn_connection.config.stats.requests == 0
