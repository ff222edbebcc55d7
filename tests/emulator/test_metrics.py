"""Usage metrics in the emulator: series per pod, defaults, and values a test scripts per resource."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from saturn_api import ApiClient, Configuration
from saturn_api.api.workspaces_api import WorkspacesApi
from saturn_api.models import Metrics, PodRuntimeSummaryList

from tests.conftest import TOKEN

PATHS = {"workspace": "workspaces", "dask_cluster": "dask_clusters", "deployment": "deployments", "job": "jobs"}
TYPES = ("cpu", "memory", "network_in", "network_out", "gpu", "gpu_memory")
MIB = 1024 * 1024


@pytest.fixture
def http(emulator):
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return session.request(method, emulator.url + path, timeout=30, **kwargs)

    return call


@pytest.fixture
def control(emulator):
    def call(body: dict[str, Any], status_code: int = 200) -> Any:
        response = requests.post(emulator.url + "/_emulator/metrics", json=body, timeout=10)
        assert response.status_code == status_code, response.text
        return response.json()

    return call


def _ok(response: requests.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def _metrics(http, kind: str, resource_id: str, **params: Any) -> dict:
    body = _ok(http("GET", f"/api/{PATHS[kind]}/{resource_id}/metrics", params=params))
    Metrics.model_validate(body)
    return body


def _running(emulator, kind: str, **fields: Any) -> str:
    """One resource of ``kind``, running for the last two hours."""
    return emulator.seed(kind=kind, count=1, started_ago_seconds=7200, **fields)["ids"][0]


def _window(minutes: int) -> dict[str, str]:
    """The last ``minutes`` minutes, at one point a minute (``minutes + 1`` points)."""
    end = datetime.now(UTC).replace(microsecond=0)
    return {"start": (end - timedelta(minutes=minutes)).isoformat(), "end": end.isoformat(), "resolution": "60s"}


def _values(series: dict) -> list[float]:
    return [point["value"] for point in series["data"]]


def _by_pod(metric: list[dict]) -> dict[str, list[float]]:
    return {series["pod_name"]: _values(series) for series in metric}


def test_an_unscripted_workspace_has_one_pod_of_plausible_defaults(http, emulator) -> None:
    workspace_id = _running(emulator, "workspace")
    body = _metrics(http, "workspace", workspace_id)
    assert set(body) == set(TYPES)
    assert body["gpu"] == [] and body["gpu_memory"] == [], "no GPU in its size"
    (cpu,) = body["cpu"]
    assert cpu["pod_name"] == f"workspace-{workspace_id[:12]}-0"
    assert cpu["labels"]["saturncloud.io/resource-id"] == workspace_id
    assert len(cpu["data"]) == 61, "the last hour at 60s: 61 points"
    assert cpu["stats"] == {"avg": 50, "min": 50, "max": 50, "last": 50}
    assert body["memory"][0]["stats"]["last"] == 512 * MIB
    times = [datetime.fromisoformat(point["datetime"]) for point in cpu["data"]]
    assert times == sorted(times) and times[-1] - times[0] == timedelta(hours=1)


def test_gpu_series_come_with_a_gpu_size(http, emulator) -> None:
    workspace_id = _running(emulator, "workspace", instance_size="g4dnxlarge")
    body = _metrics(http, "workspace", workspace_id)
    assert [series["stats"]["max"] for series in body["gpu"]] == [0]
    assert len(body["gpu_memory"]) == 1
    cluster_id = _running(emulator, "dask_cluster", worker_size="g4dnxlarge", n_workers=2)
    gpu_pods = [series["pod_name"] for series in _metrics(http, "dask_cluster", cluster_id)["gpu"]]
    assert gpu_pods == [f"dask-{cluster_id[:12]}-worker-0", f"dask-{cluster_id[:12]}-worker-1"], "not the scheduler"


def test_a_resource_that_is_not_running_has_no_series(http, emulator) -> None:
    workspace = _ok(http("POST", "/api/workspaces", json={"name": "idle"}), 201)
    assert _metrics(http, "workspace", workspace["id"]) == {metric_type: [] for metric_type in TYPES}
    http("POST", f"/api/workspaces/{workspace['id']}/start")
    assert _metrics(http, "workspace", workspace["id"])["cpu"] == [], "pending: nothing runs yet"
    time.sleep(emulator.state.transition_seconds + 0.05)
    assert len(_metrics(http, "workspace", workspace["id"])["cpu"][0]["data"]) == 1, "just started: one point"
    http("POST", f"/api/workspaces/{workspace['id']}/stop")
    assert _metrics(http, "workspace", workspace["id"])["cpu"] == []
    assert http("GET", f"/api/workspaces/{'0' * 32}/metrics").status_code == 404


def test_a_dask_cluster_has_a_scheduler_and_workers_and_the_component_filter(http, emulator, control) -> None:
    cluster_id = _running(emulator, "dask_cluster", n_workers=3)
    prefix = f"dask-{cluster_id[:12]}"
    body = _metrics(http, "dask_cluster", cluster_id, type="cpu")
    assert set(body) == {"cpu"}
    assert [(series["pod_name"], series["labels"]["dask.org/component"]) for series in body["cpu"]] == [
        (f"{prefix}-scheduler", "scheduler"),
        (f"{prefix}-worker-0", "worker"),
        (f"{prefix}-worker-1", "worker"),
        (f"{prefix}-worker-2", "worker"),
    ]
    control({"kind": "dask_cluster", "id": cluster_id, "series": {"cpu": {"scheduler": 20, "worker": 900}}})
    workers = _metrics(http, "dask_cluster", cluster_id, type="cpu", component="worker")["cpu"]
    assert [series["stats"]["avg"] for series in workers] == [900, 900, 900]
    scheduler = _metrics(http, "dask_cluster", cluster_id, type="cpu", component="scheduler")["cpu"]
    assert [(series["pod_name"], series["stats"]["max"]) for series in scheduler] == [(f"{prefix}-scheduler", 20)]
    assert _metrics(http, "dask_cluster", cluster_id, component="kubecluster")["cpu"] == []
    bad = http("GET", f"/api/dask_clusters/{cluster_id}/metrics", params={"component": "driver"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("component:")


def test_a_constant_and_a_list_stretched_over_the_window(http, emulator, control) -> None:
    workspace_id = _running(emulator, "workspace")
    control({"kind": "workspace", "id": workspace_id, "series": {"cpu": 7.5, "memory": [1 * MIB, 2 * MIB]}})
    body = _metrics(http, "workspace", workspace_id, **_window(10))
    assert _values(body["cpu"][0]) == [7.5] * 11
    assert _values(body["memory"][0]) == [1 * MIB] * 6 + [2 * MIB] * 5, "two values over 11 points, oldest first"
    assert body["memory"][0]["stats"] == {"avg": 16 * MIB / 11, "min": 1 * MIB, "max": 2 * MIB, "last": 2 * MIB}
    assert _values(body["network_in"][0]) == [2048] * 11, "unscripted types keep their defaults"

    control({"kind": "workspace", "id": workspace_id, "series": {"cpu": [900, 5]}})
    busy_then_idle = _metrics(http, "workspace", workspace_id, type="cpu", **_window(30))["cpu"][0]
    assert busy_then_idle["stats"]["max"] == 900 and busy_then_idle["stats"]["last"] == 5
    assert _values(busy_then_idle)[-15:] == [5] * 15
    exact = list(range(11))
    control({"kind": "workspace", "id": workspace_id, "series": {"cpu": exact}})
    assert _values(_metrics(http, "workspace", workspace_id, **_window(10))["cpu"][0]) == exact


def test_values_by_pod_name_or_role_and_pods_left_out(http, emulator, control) -> None:
    deployment_id = _running(emulator, "deployment", scale=3)
    pods = _ok(http("GET", "/api/active/pods", params={"workload_type": "deployment", "workload_id": deployment_id}))
    names = [pod.name for pod in PodRuntimeSummaryList.model_validate(pods).pod_summaries]
    assert _by_pod(_metrics(http, "deployment", deployment_id)["cpu"]).keys() == set(names)
    control(
        {
            "kind": "deployment",
            "id": deployment_id,
            "series": {"cpu": {names[0]: 400, "replica-1": [10, 20], "*": 1}},
            "missing_pods": ["replica-2"],
        }
    )
    cpu = _by_pod(_metrics(http, "deployment", deployment_id, **_window(1))["cpu"])
    assert cpu == {names[0]: [400, 400], names[1]: [10, 20]}, "the third pod has no series at all"
    memory = _metrics(http, "deployment", deployment_id)["memory"]
    assert [series["pod_name"] for series in memory] == names[:2]

    control({"kind": "deployment", "id": deployment_id, "series": {"cpu": {names[1]: 3}}})
    cpu = _by_pod(_metrics(http, "deployment", deployment_id, **_window(1))["cpu"])
    assert cpu == {names[0]: [50, 50], names[1]: [3, 3], names[2]: [50, 50]}, "unmatched pods keep the default"


def test_missing_types_or_every_type(http, emulator, control) -> None:
    job_id = _running(emulator, "job")
    (series,) = _metrics(http, "job", job_id)["cpu"]
    pods = _ok(http("GET", "/api/active/pods", params={"workload_type": "job", "workload_id": job_id}))
    assert series["pod_name"] == pods["pod_summaries"][0]["name"]
    assert series["labels"]["saturncloud.io/resource-id"] == job_id
    control({"kind": "job", "id": job_id, "series": {"gpu": 300}, "missing": ["memory"]})
    body = _metrics(http, "job", job_id)
    assert body["memory"] == [] and body["cpu"][0]["stats"]["avg"] == 50
    assert body["gpu"][0]["stats"]["avg"] == 300, "a scripted GPU series shows even without a GPU size"
    answer = control({"kind": "job", "id": job_id, "missing": True})
    assert answer == {"kind": "job", "id": job_id, "series": [], "missing": list(sorted(TYPES)), "missing_pods": []}
    assert _metrics(http, "job", job_id) == {metric_type: [] for metric_type in TYPES}
    control({"kind": "job", "id": job_id})
    assert len(_metrics(http, "job", job_id)["cpu"]) == 1, "an empty script goes back to the defaults"


def test_set_metrics_in_python_is_the_same_as_the_control(http, emulator) -> None:
    cluster_id = _running(emulator, "dask_cluster", n_workers=2)
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": {"worker-1": 700}}, missing_pods=["scheduler"])
    cpu = _by_pod(_metrics(http, "dask_cluster", cluster_id, **_window(2))["cpu"])
    prefix = f"dask-{cluster_id[:12]}"
    assert cpu == {f"{prefix}-worker-0": [50] * 3, f"{prefix}-worker-1": [700] * 3}
    emulator.set_metrics("dask_cluster", cluster_id)
    assert len(_metrics(http, "dask_cluster", cluster_id)["cpu"]) == 3


def test_a_series_starts_when_its_pod_started(http, emulator) -> None:
    workspace_id = _running(emulator, "workspace")
    emulator.backdate("workspace", workspace_id, 600)
    cpu = _metrics(http, "workspace", workspace_id, type="cpu")["cpu"][0]
    assert 9 <= len(cpu["data"]) <= 10, "ten minutes at 60s, from when it started running"


def test_the_window_and_its_resolution(http, emulator) -> None:
    workspace_id = _running(emulator, "workspace")
    path = f"/api/workspaces/{workspace_id}/metrics"
    assert len(_metrics(http, "workspace", workspace_id, type="cpu", resolution="5m")["cpu"][0]["data"]) == 13
    assert len(_metrics(http, "workspace", workspace_id, type="cpu", **_window(90))["cpu"][0]["data"]) == 91
    long_ago = datetime.now(UTC) - timedelta(hours=5)
    before_start = {"start": (long_ago - timedelta(hours=1)).isoformat(), "end": long_ago.isoformat()}
    assert _metrics(http, "workspace", workspace_id, **before_start)["cpu"] == [], "it did not run then"
    day = {"start": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    assert len(_metrics(http, "workspace", workspace_id, type="cpu", **day)["cpu"][0]["data"]) <= 1000
    several = _metrics(http, "workspace", workspace_id, type="cpu,memory")
    assert set(several) == {"cpu", "memory"}
    for params, field in (
        ({**day, "resolution": "60s"}, "resolution"),  # 1441 points
        ({"resolution": "soon"}, "resolution"),
        ({"resolution": "0.5s"}, "resolution"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01T00:00:00"}, "end"),
        ({"start": datetime.now(UTC).isoformat(), "end": long_ago.isoformat()}, "start"),
        ({"type": "disk"}, "type"),
    ):
        answer = http("GET", path, params=params)
        assert answer.status_code == 422, params
        assert answer.json()["message"].startswith(f"{field}:"), answer.json()


@pytest.mark.parametrize(
    ("body", "status_code", "field"),
    [
        ({"kind": "robot", "id": "x"}, 422, "kind"),
        ({"kind": "workspace"}, 422, "id"),
        ({"kind": "workspace", "id": "0" * 32}, 404, None),
        ({"kind": "workspace", "id": "{id}", "series": {"disk": 1}}, 422, "series.disk"),
        ({"kind": "workspace", "id": "{id}", "series": {"cpu": -1}}, 422, "series.cpu"),
        ({"kind": "workspace", "id": "{id}", "series": {"cpu": []}}, 422, "series.cpu"),
        ({"kind": "workspace", "id": "{id}", "series": {"cpu": ["high"]}}, 422, "series.cpu[0]"),
        ({"kind": "workspace", "id": "{id}", "series": {"cpu": {}}}, 422, "series.cpu"),
        ({"kind": "workspace", "id": "{id}", "missing": ["disk"]}, 422, "missing"),
        ({"kind": "workspace", "id": "{id}", "missing_pods": "scheduler"}, 422, "missing_pods"),
        ({"kind": "workspace", "id": "{id}", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_metrics_scripts_are_refused(emulator, control, body, status_code, field) -> None:
    workspace_id = _running(emulator, "workspace")
    body = {key: workspace_id if value == "{id}" else value for key, value in body.items()}
    answer = control(body, status_code)
    if field is not None:
        assert answer["message"].startswith(f"{field}:"), answer


async def test_saturn_api_client_reads_metrics(emulator) -> None:
    workspace_id = _running(emulator, "workspace")
    emulator.set_metrics("workspace", workspace_id, series={"cpu": 125})
    end = datetime.now(UTC)
    async with ApiClient(Configuration(host=emulator.url, access_token=TOKEN)) as api:
        metrics = await WorkspacesApi(api).get_metrics(
            workspace_id, type="cpu", start=end - timedelta(minutes=30), end=end, resolution="5m"
        )
    assert metrics.cpu is not None and len(metrics.cpu[0].data) == 7
    assert metrics.cpu[0].stats.avg == 125


@pytest.mark.parametrize("offset", [600, -600])
def test_a_scripted_clock_ahead_or_behind_dates_the_points_so(http, emulator, control, offset: int) -> None:
    workspace_id = _running(emulator, "workspace")
    control({"kind": "workspace", "id": workspace_id, "series": {"cpu": 10}, "clock_offset_seconds": offset})
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(minutes=30)).isoformat(), "end": (now + timedelta(minutes=20)).isoformat()}
    (cpu,) = _metrics(http, "workspace", workspace_id, type="cpu", **window)["cpu"]
    newest = datetime.fromisoformat(cpu["data"][-1]["datetime"])
    assert abs((newest - now).total_seconds() - offset) <= 61, "the newest point is dated by the skewed clock"
    answer = control({"kind": "workspace", "id": workspace_id, "clock_offset_seconds": 10**6}, 422)
    assert answer["message"].startswith("clock_offset_seconds:")
