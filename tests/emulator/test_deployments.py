"""Deployments in the emulator: spec-valid bodies, statuses that move like a workspace's, their live pods."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from saturn_api import ApiClient, Configuration
from saturn_api.api.deployments_api import DeploymentsApi
from saturn_api.models import Deployment, DeploymentCreate, DeploymentList, PodRuntimeSummary, PodRuntimeSummaryList

from tests.conftest import TOKEN

TRANSITION = 0.2  # the emulator fixture's transition_seconds


@pytest.fixture
def http(emulator):
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return session.request(method, emulator.url + path, timeout=5, **kwargs)

    return call


def _ok(response: requests.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def _deployment(response: requests.Response, status_code: int = 200) -> dict:
    body = _ok(response, status_code)
    Deployment.model_validate(body)
    return body


def _create(http, name: str = "api", command: str = "uvicorn app:app", **fields: Any) -> dict:
    return _deployment(http("POST", "/api/deployments", json={"name": name, "command": command, **fields}), 201)


def _pods(http, deployment_id: str) -> list[dict]:
    body = _ok(http("GET", "/api/active/pods", params={"workload_type": "deployment", "workload_id": deployment_id}))
    PodRuntimeSummaryList.model_validate(body)
    return body["pod_summaries"]


def _wait() -> None:
    time.sleep(TRANSITION + 0.05)


def test_a_deployment_starts_and_stops_like_a_workspace(http) -> None:
    created = _create(http, scale=2, subdomain="my-api", healthcheck="/health", start_ssh=True)
    assert (created["status"], created["running_count"], created["resource_type"]) == ("stopped", 0, "deployment")
    assert (created["url"], created["healthcheck"]) == ("https://my-api.emulator.saturn.local/", "/health")
    assert created["ssh_url"] and created["last_deploy"] == created["created_at"]
    path = f"/api/deployments/{created['id']}"

    started = _deployment(http("POST", path + "/start", json={"debug_mode": True}))
    assert (started["status"], started["debug_mode"]) == ("pending", True)
    assert _deployment(http("POST", path + "/start"))["status"] == "pending", "a second start changes nothing"
    _wait()
    running = _deployment(http("GET", path))
    assert (running["status"], running["running_count"]) == ("running", 2)
    assert running["last_deploy"] >= created["created_at"]

    assert _deployment(http("POST", path + "/stop"))["status"] == "stopping"
    _wait()
    stopped = _deployment(http("GET", path))
    assert (stopped["status"], stopped["running_count"]) == ("stopped", 0)
    assert _deployment(http("POST", path + "/stop"))["status"] == "stopped", "a stop when stopped changes nothing"


def test_a_failed_deployment_shows_why_and_stops_from_error(http, emulator) -> None:
    created = _create(http)
    path = f"/api/deployments/{created['id']}"
    http("POST", path + "/start")
    answer = requests.post(
        emulator.url + "/_emulator/fail",
        json={"kind": "deployment", "id": created["id"], "message": "Healthcheck failed"},
        timeout=5,
    )
    assert answer.status_code == 200
    failed = _deployment(http("GET", path))
    assert (failed["status"], failed["status_message"]) == ("error", "Healthcheck failed")
    assert _deployment(http("POST", path + "/stop"))["status"] == "stopping"
    bad_kind = requests.post(emulator.url + "/_emulator/fail", json={"kind": "robot", "id": "x"}, timeout=5)
    assert bad_kind.status_code == 422 and "deployment" in bad_kind.json()["message"]


def test_a_running_deployment_has_scale_pods(http) -> None:
    created = _create(http, scale=3)
    http("POST", f"/api/deployments/{created['id']}/start")
    pending = _pods(http, created["id"])
    assert [pod["status"] for pod in pending] == ["pending"] * 3
    _wait()
    pods = _pods(http, created["id"])
    assert [pod["status"] for pod in pods] == ["running"] * 3
    assert {pod["labels"]["saturncloud.io/resource-id"] for pod in pods} == {created["id"]}
    one = _ok(http("GET", f"/api/active/pods/{pods[0]['name']}"))
    PodRuntimeSummary.model_validate(one)
    assert one["container_summaries"][0]["status"] == "running"
    assert _ok(http("GET", f"/api/active/pods/{pods[0]['name']}/logs")) == {"logs": ""}
    http("POST", f"/api/deployments/{created['id']}/stop")
    assert _pods(http, created["id"]) == []
    assert http("GET", f"/api/active/pods/{pods[0]['name']}").status_code == 404


def test_delete_refuses_an_active_deployment_unless_allowed(http) -> None:
    created = _create(http)
    path = f"/api/deployments/{created['id']}"
    http("POST", path + "/start")
    refused = http("DELETE", path)
    assert refused.status_code == 409 and "allow_active" in refused.json()["message"]
    assert http("DELETE", path, params={"allow_active": "true"}).status_code == 204
    missing = http("GET", path)
    assert (missing.status_code, missing.json()) == (404, {"message": f"Deployment {created['id']} not found"})
    stopped = _create(http, name="idle")
    assert http("DELETE", f"/api/deployments/{stopped['id']}").status_code == 204


def test_names_are_unique_and_lists_are_paged_and_filtered(http) -> None:
    first, second = _create(http, name="api-a"), _create(http, name="api-b")
    _create(http, name="worker")
    assert http("POST", "/api/deployments", json={"name": "api-a", "command": "x"}).status_code == 409
    assert http("PATCH", f"/api/deployments/{second['id']}", json={"name": "api-a"}).status_code == 409
    updated = _deployment(http("PATCH", f"/api/deployments/{second['id']}", json={"name": "api-c", "scale": 2}))
    assert (updated["name"], updated["scale"]) == ("api-c", 2)
    listing = _ok(http("GET", "/api/deployments", params={"name": "api", "page_size": 1}))
    DeploymentList.model_validate(listing)
    assert [item["id"] for item in listing["deployments"]] == [first["id"]]
    rest = _ok(http("GET", "/api/deployments", params={"name": "api", "next_key": listing["next_key"]}))
    assert [item["name"] for item in rest["deployments"]] == ["api-c"] and rest["next_key"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "x"}, "name"),
        ({"name": "d"}, "command"),
        ({"name": "d", "command": "x", "scale": 0}, "scale"),
        ({"name": "d", "command": "x", "start_ssh": "no"}, "start_ssh"),
        ({"name": "d", "command": "x", "healthcheck": 1}, "healthcheck"),
        ({"name": "d", "command": "x", "retries": 1}, "retries"),
        ({"name": "d", "command": "x", "instance_size": "huge"}, "instance_size"),
    ],
)
def test_bad_create_bodies_are_422_naming_the_field(http, body, field) -> None:
    response = http("POST", "/api/deployments", json=body)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{field}:")


def test_an_update_to_a_running_deployment_asks_for_a_restart(http) -> None:
    created = _create(http)
    path = f"/api/deployments/{created['id']}"
    http("POST", path + "/start")
    assert _deployment(http("PATCH", path, json={"description": "only words"}))["require_restart"] is False
    assert _deployment(http("PATCH", path, json={"instance_size": "xlarge"}))["require_restart"] is True
    assert http("PATCH", path, json={"bogus": 1}).status_code == 422


async def test_saturn_api_client_creates_starts_and_stops_a_deployment(emulator) -> None:
    async with ApiClient(Configuration(host=emulator.url, access_token=TOKEN)) as api:
        deployments = DeploymentsApi(api)
        created = await deployments.create(DeploymentCreate(name="from-saturn-api", command="python serve.py"))
        assert (created.status, created.command) == ("stopped", "python serve.py")
        assert (await deployments.start(created.id)).status == "pending"
        assert [item.name for item in (await deployments.list()).deployments] == ["from-saturn-api"]
        assert (await deployments.stop(created.id)).status == "stopping"
        assert (await deployments.get(created.id)).status in ("stopping", "stopped")
        await deployments.delete(created.id)
        assert (await deployments.list()).deployments == []
