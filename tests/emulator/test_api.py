"""The emulator answers as Saturn does: spec-valid bodies, status codes, auth schemes, state that moves."""

from __future__ import annotations

import json
import time

import pytest
import requests
from saturn_api.models import ApiStatus, DaskCluster, ServerOptions, Workspace, WorkspaceList

from tests.conftest import TOKEN


@pytest.fixture
def http(emulator):
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, emulator.url + path, timeout=5, **kwargs)

    return call


def _workspace(http, name: str = "ws") -> dict:
    response = http("POST", "/api/workspaces", json={"name": name})
    assert response.status_code == 201
    return response.json()


def test_every_response_validates_against_the_spec_models(http) -> None:
    ApiStatus.model_validate(http("GET", "/api/status").json())
    ServerOptions.model_validate(http("GET", "/api/info/servers").json())
    created = _workspace(http)
    Workspace.model_validate(created)
    cluster = http("POST", "/api/dask_clusters", json={"resource": {"workspace_id": created["id"]}})
    assert cluster.status_code == 201
    DaskCluster.model_validate(cluster.json())
    http("POST", f"/api/workspaces/{created['id']}/start")
    for path in (f"/api/workspaces/{created['id']}", f"/api/workspaces/{created['id']}/stop"):
        Workspace.model_validate(http("GET" if path.endswith(created["id"]) else "POST", path).json())
    DaskCluster.model_validate(http("POST", f"/api/dask_clusters/{cluster.json()['id']}/start").json())
    listing = WorkspaceList.model_validate(http("GET", "/api/workspaces").json())
    assert listing.workspaces[0].dask_cluster is not None


def test_bearer_is_accepted_like_token(emulator) -> None:
    response = requests.get(emulator.url + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code == 200


@pytest.mark.parametrize("header", [None, "token wrong", "Basic abc", f"token{TOKEN}"])
def test_bad_or_missing_token_is_401_with_a_message(emulator, header) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(emulator.url + "/api/workspaces", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["message"]


def test_error_codes_and_bodies(http) -> None:
    missing = http("GET", "/api/workspaces/" + "a" * 32)
    assert (missing.status_code, missing.json()) == (404, {"message": f"Workspace {'a' * 32} not found"})
    assert http("GET", "/api/dask_clusters/" + "b" * 32).status_code == 404
    invalid = http("POST", "/api/workspaces", json={"name": "x", "instance_size": "huge"})
    assert invalid.status_code == 422
    assert "instance_size" in invalid.json()["message"]
    assert http("POST", "/api/workspaces", data="not json").status_code == 422
    created = _workspace(http)
    assert http("DELETE", f"/api/workspaces/{created['id']}").status_code == 204


def test_body_without_content_type_is_parsed(emulator) -> None:
    response = requests.post(
        emulator.url + "/api/workspaces",
        data=json.dumps({"name": "gen1-style"}),
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json()["name"] == "gen1-style"


def test_status_moves_with_time(http, emulator) -> None:
    created = _workspace(http)
    path = f"/api/workspaces/{created['id']}"
    assert http("POST", path + "/start").json()["status"] == "pending"
    assert http("GET", path).json()["status"] == "pending"
    time.sleep(emulator.state.transition_seconds + 0.05)
    running = http("GET", path).json()
    assert running["status"] == "running"
    assert running["started_at"]
    assert http("POST", path + "/stop").json()["status"] == "stopping"
    time.sleep(emulator.state.transition_seconds + 0.05)
    assert http("GET", path).json()["status"] == "stopped"


def test_a_resource_can_be_made_to_fail_with_a_message(http, emulator) -> None:
    created = _workspace(http)
    cluster = http("POST", "/api/dask_clusters", json={"resource": {"workspace_id": created["id"]}}).json()
    answer = requests.post(
        emulator.url + "/_emulator/fail",
        json={"kind": "dask_cluster", "id": cluster["id"], "message": "Insufficient GPU quota"},
        timeout=5,
    )
    assert answer.status_code == 200
    failed = http("GET", f"/api/dask_clusters/{cluster['id']}").json()
    assert (failed["status"], failed["errors"]) == ("error", ["Insufficient GPU quota"])
    emulator.fail("workspace", created["id"], "Image pull failed")
    workspace = http("GET", f"/api/workspaces/{created['id']}").json()
    assert (workspace["status"], workspace["status_message"]) == ("error", "Image pull failed")
    Workspace.model_validate(workspace)


def test_faults_can_be_set_over_http(http, emulator) -> None:
    answer = requests.post(
        emulator.url + "/_emulator/faults", json={"queue": ["throttle"], "retry_after": 3}, timeout=5
    )
    assert answer.status_code == 200
    throttled = http("GET", "/api/status")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert http("GET", "/api/status").status_code == 200
    bad = requests.post(emulator.url + "/_emulator/faults", json={"error_rate": 2}, timeout=5)
    assert bad.status_code == 422


def test_page_size_bounds(http) -> None:
    assert http("GET", "/api/workspaces?page_size=0").status_code == 422
    assert http("GET", "/api/workspaces?page_size=1001").status_code == 422
    assert http("GET", "/api/workspaces?page_size=1000").status_code == 200


def test_names_are_unique_through_create_rename_and_delete(http) -> None:
    first, second = _workspace(http, "first"), _workspace(http, "second")
    assert http("POST", "/api/workspaces", json={"name": "first"}).status_code == 409
    assert http("PATCH", f"/api/workspaces/{second['id']}", json={"name": "first"}).status_code == 409
    renamed = http("PATCH", f"/api/workspaces/{second['id']}", json={"name": "renamed"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "renamed")
    assert http("POST", "/api/workspaces", json={"name": "second"}).status_code == 201, "the old name is free"
    assert http("DELETE", f"/api/workspaces/{first['id']}").status_code == 204
    assert http("POST", "/api/workspaces", json={"name": "first"}).status_code == 201
