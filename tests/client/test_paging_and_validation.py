"""Paging across several pages, and option checks that send nothing."""

from __future__ import annotations

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnInvalidOptionError
from airflow_provider_saturn.client import paging as paging_module
from tests.conftest import requests_to


def test_list_projects_follows_next_key_to_the_last_page(client: SaturnClient, emulator, monkeypatch) -> None:
    monkeypatch.setattr(paging_module, "PAGE_SIZE", 3)
    created = {client.create_project(f"p{i:02d}")["id"] for i in range(10)}
    listed = client.list_projects()
    assert {p["id"] for p in listed} == created
    assert len(listed) == 10
    assert requests_to(emulator, "GET /api/workspaces") == 4  # 3 + 3 + 3 + 1


def test_find_by_name_pages_too(client: SaturnClient, monkeypatch) -> None:
    monkeypatch.setattr(paging_module, "PAGE_SIZE", 2)
    for i in range(5):
        client.create_project(f"job-{i}")
    found = client.find_project_by_name("job-4")
    assert found is not None
    assert found["name"] == "job-4"


MUTATING_ROUTES = ("POST /api/workspaces", "PATCH /api/workspaces/{id}", "POST /api/dask_clusters")


def _mutations(emulator) -> int:
    return sum(requests_to(emulator, route) for route in MUTATING_ROUTES)


@pytest.mark.parametrize(
    ("argument", "value", "label", "valid"),
    [
        ("jupyter_size", "huge", "size", "'medium', 'large'"),
        ("jupyter_disk_space", "1Ti", "disk space", "'10Gi', '50Gi'"),
        ("jupyter_auto_shutoff", "2 hours", "auto shutoff", "'1 hour', '6 hours'"),
    ],
)
def test_invalid_option_names_the_valid_ones_before_any_change(
    client: SaturnClient, emulator, argument: str, value: str, label: str, valid: str
) -> None:
    with pytest.raises(SaturnInvalidOptionError) as caught:
        client.create_project("bad", **{argument: value})  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"Proposed {label}: {value} is not a valid option" in message
    assert valid in message
    assert isinstance(caught.value, ValueError)
    assert _mutations(emulator) == 0
    assert client.list_projects() == []


def test_invalid_update_sends_no_patch(client: SaturnClient, emulator) -> None:
    project = client.create_project("ok")
    with pytest.raises(SaturnInvalidOptionError, match="Options are"):
        client.update_project(project["id"], jupyter_size="huge")
    assert requests_to(emulator, "PATCH /api/workspaces/{id}") == 0


def test_start_ssh_must_be_a_bool(client: SaturnClient, emulator) -> None:
    with pytest.raises(SaturnInvalidOptionError, match="jupyter_start_ssh must be True or False"):
        client.create_project("ssh", jupyter_start_ssh="yes")  # type: ignore[arg-type]
    assert emulator.config.stats.requests == 0, "a type error needs no request at all"


def test_invalid_dask_sizes_and_counts(client: SaturnClient, emulator) -> None:
    project = client.create_project("dask")
    with pytest.raises(SaturnInvalidOptionError, match=r"Proposed worker size: huge .* Options are: \['medium'"):
        client.create_dask_cluster(project["id"], worker_size="huge")
    with pytest.raises(SaturnInvalidOptionError, match="n_workers must be a whole number"):
        client.create_dask_cluster(project["id"], n_workers=-1)
    assert requests_to(emulator, "POST /api/dask_clusters") == 0


def test_disabled_sizes_and_plain_string_disk_spaces_of_older_servers() -> None:
    from airflow_provider_saturn.client import options

    older = {"sizes": {"a": {"disabled": True}, "b": {}}, "disk_space": ["50Gi"], "auto_shutoff": ["Never"]}
    assert options.size_names(older) == ["b"]
    assert options.disk_space_values(older) == ["50Gi"]
    with pytest.raises(SaturnInvalidOptionError, match=r"Options are: \['b'\]"):
        options.validate_workspace_settings(older, {"jupyter_size": "a"})
