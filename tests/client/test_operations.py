"""Every seed operation, and the ones beyond the seed, through the client against the emulator."""

from __future__ import annotations

import time

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnConflictError
from tests.conftest import requests_to


def wait_for(read, status: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = read()
        if current["status"] == status or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def test_options_lists_sizes_disk_spaces_and_auto_shutoffs(client: SaturnClient) -> None:
    options = client.options
    assert "large" in options["sizes"]
    assert any(size["gpu"] for size in options["sizes"].values()), "a GPU size is offered"
    assert options["auto_shutoff"] == ["1 hour", "6 hours", "24 hours", "3 days", "7 days", "Never"]
    assert {"value": "50Gi", "display_str": "50 GiB"} in options["disk_space"]


def test_options_are_fetched_once(client: SaturnClient, emulator) -> None:
    client.options  # noqa: B018
    client.options  # noqa: B018
    assert requests_to(emulator, "GET /api/info/servers") == 1


def test_create_project_with_every_seed_setting(client: SaturnClient) -> None:
    project = client.create_project(
        name="my-project",
        description="created from Airflow",
        image_uri="saturncloud/saturn-gpu:2020.11.30",
        start_script="pip install dask-saturn",
        environment_variables={"data_url": "s3://my-bucket/data"},
        working_dir="/home/jovyan/project",
        jupyter_size="large",
        jupyter_disk_space="50Gi",
        jupyter_auto_shutoff="Never",
        jupyter_start_ssh=False,
    )
    assert len(project["id"]) == 32
    assert project["name"] == "my-project"
    assert project["jupyter_server_id"] == project["id"]
    assert project["dask_cluster_id"] is None
    assert project["image_tag"]["image_uri"] == "saturncloud/saturn-gpu:2020.11.30"
    assert project["environment_variables"] == {"DATA_URL": "s3://my-bucket/data"}
    assert (project["instance_size"], project["disk_space"], project["auto_shutoff"]) == ("large", "50Gi", "Never")
    assert project["start_ssh"] is False
    assert project["working_dir"] == "/home/jovyan/project"


def test_create_with_a_taken_name_is_a_conflict(client: SaturnClient) -> None:
    client.create_project("taken")
    with pytest.raises(SaturnConflictError, match="already exists"):
        client.create_project("taken")


def test_get_and_list_projects(client: SaturnClient) -> None:
    first = client.create_project("first")
    second = client.create_project("second")
    assert client.get_project(first["id"])["name"] == "first"
    assert {p["id"] for p in client.list_projects()} == {first["id"], second["id"]}
    found = client.find_project_by_name("second")
    assert found is not None
    assert found["id"] == second["id"]
    assert client.find_project_by_name("secon") is None, "a substring is not the name"


def test_update_project_patches_and_keeps_name(client: SaturnClient) -> None:
    project = client.create_project("upd", description="old")
    updated = client.update_project(project["id"], description="new", jupyter_size="xlarge")
    assert updated["description"] == "new"
    assert updated["instance_size"] == "xlarge"
    assert updated["name"] == "upd"


def test_update_project_accepts_the_seed_readmes_image_argument(client: SaturnClient) -> None:
    project = client.create_project("img")
    updated = client.update_project(project["id"], image="saturncloud/saturn:2020.12.11")
    assert updated["image_tag"]["image_uri"] == "saturncloud/saturn:2020.12.11"


def test_update_of_a_running_project_stops_its_server_and_dask_cluster(client: SaturnClient) -> None:
    project = client.create_project("running")
    cluster = client.create_dask_cluster(project["id"])
    client.start_jupyter_server(project["id"])
    client.start_dask_cluster(cluster["id"])
    updated = client.update_project(project["id"], jupyter_size="xlarge")
    assert updated["status"] == "stopping"
    assert client.get_dask_cluster(cluster["id"])["status"] in ("stopping", "stopped")


def test_update_without_update_jupyter_server_leaves_it_running(client: SaturnClient) -> None:
    project = client.create_project("keep")
    client.start_jupyter_server(project["id"])
    updated = client.update_project(project["id"], jupyter_size="xlarge", update_jupyter_server=False)
    assert updated["status"] in ("pending", "running")
    assert updated["require_restart"] is True


def test_delete_project(client: SaturnClient) -> None:
    project = client.create_project("gone")
    client.delete_project(project["id"])
    assert client.list_projects() == []


def test_delete_of_an_active_project_needs_allow_active(client: SaturnClient) -> None:
    project = client.create_project("active")
    client.start_jupyter_server(project["id"])
    with pytest.raises(SaturnConflictError, match="allow_active"):
        client.delete_project(project["id"])
    client.delete_project(project["id"], allow_active=True)
    assert client.list_projects() == []


def test_jupyter_server_start_and_stop(client: SaturnClient) -> None:
    project = client.create_project("jupyter")
    server_id = project["jupyter_server_id"]
    server = client.get_jupyter_server(server_id)
    assert (server["id"], server["status"], server["dask_cluster_id"]) == (server_id, "stopped", None)
    assert client.start_jupyter_server(server_id)["status"] == "pending"
    assert wait_for(lambda: client.get_jupyter_server(server_id), "running")["status"] == "running"
    assert client.stop_jupyter_server(server_id)["status"] == "stopping"
    assert wait_for(lambda: client.get_jupyter_server(server_id), "stopped")["status"] == "stopped"


def test_dask_cluster_create_start_stop(client: SaturnClient) -> None:
    project = client.create_project("dask")
    cluster = client.create_dask_cluster(project["id"], n_workers=3, worker_size="xlarge", scheduler_size="medium")
    assert (cluster["n_workers"], cluster["worker_size"], cluster["status"]) == (3, "xlarge", "stopped")
    assert client.get_project(project["id"])["dask_cluster_id"] == cluster["id"]
    assert client.get_jupyter_server(project["id"])["dask_cluster_id"] == cluster["id"]
    assert client.start_dask_cluster(cluster["id"])["status"] == "pending"
    assert wait_for(lambda: client.get_dask_cluster(cluster["id"]), "running")["status"] == "running"
    assert client.stop_dask_cluster(cluster["id"])["status"] == "stopping"
    assert wait_for(lambda: client.get_dask_cluster(cluster["id"]), "stopped")["status"] == "stopped"


def test_stopping_a_workspace_stops_its_dask_cluster(client: SaturnClient) -> None:
    project = client.create_project("cascade")
    cluster = client.create_dask_cluster(project["id"])
    client.start_jupyter_server(project["id"])
    client.start_dask_cluster(cluster["id"])
    client.stop_jupyter_server(project["id"])
    assert client.get_dask_cluster(cluster["id"])["status"] in ("stopping", "stopped")


def test_status_call(client: SaturnClient) -> None:
    assert client.get_status() == {"status": "ok", "version": "2026.02.01"}


def test_older_dask_statuses_are_normalised() -> None:
    from airflow_provider_saturn.client import wire

    assert wire.dask_cluster_from_response({"id": "x", "status": "ready"})["status"] == "running"
    assert wire.dask_cluster_from_response({"id": "x", "status": "closed"})["status"] == "stopped"


def test_the_wait_decision_table() -> None:
    from airflow_provider_saturn.client.statuses import decide

    table = [
        # status, target, strict, outcome
        ("running", "running", True, "success"),
        ("pending", "running", True, "wait"),
        ("stopped", "running", True, "wait"),  # Saturn may not show the start yet
        ("stopping", "running", True, "failure"),  # sent the other way
        ("error", "running", True, "failure"),
        ("error", "running", False, "failure"),
        ("error", "error", False, "success"),
        ("stopping", "running", False, "wait"),
        ("ready", "running", True, "success"),  # older Dask cluster status
        ("closed", "stopped", True, "success"),
        ("pending", "stopped", True, "failure"),
        ("running", "stopped", True, "wait"),
    ]
    for status, target, strict, outcome in table:
        assert decide(status, target, strict=strict).outcome == outcome, (status, target, strict)


def test_updating_a_running_project_to_the_settings_it_has_leaves_it_running(client: SaturnClient) -> None:
    project = client.create_project("same", jupyter_size="large")
    client.start_jupyter_server(project["id"])
    updated = client.update_project(project["id"], jupyter_size="large", description="only words")
    assert updated["status"] in ("pending", "running")
    assert updated["require_restart"] is False


def test_either_kind_through_get_resource_and_stop_resource(client: SaturnClient) -> None:
    project = client.create_project("either")
    cluster = client.create_dask_cluster(project["id"])
    client.start_jupyter_server(project["id"])
    client.start_dask_cluster(cluster["id"])
    assert client.get_resource("jupyter_server", project["id"]) == client.get_jupyter_server(project["id"])
    assert client.get_resource("dask_cluster", cluster["id"])["id"] == cluster["id"]
    assert client.stop_resource("dask_cluster", cluster["id"])["status"] == "stopping"
    assert client.stop_resource("jupyter_server", project["id"])["status"] == "stopping"
    with pytest.raises(ValueError, match="resource kind must be one of"):
        client.get_resource("workspace", project["id"])
