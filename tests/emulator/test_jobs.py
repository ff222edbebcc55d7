"""Jobs in the emulator: scripted runs, their pods and paged logs, stops, late runs, and spec-valid bodies.

Most tests drive the emulator's clock by hand (``clock``), so that each moment of a run is checked exactly
and at once; the generated-client test lets real time pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from saturn_api import ApiClient, Configuration
from saturn_api.api.active_api import ActiveApi
from saturn_api.api.jobs_api import JobsApi
from saturn_api.models import (
    HistoricLogList,
    Job,
    JobCreate,
    JobList,
    JobRuntimeSummaryList,
    JobStart,
    PodLogs,
    PodRuntimeSummary,
    PodRuntimeSummaryList,
    ResourceHistory,
    WorkloadType,
)

from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN

TRANSITION = 0.2  # the emulator fixture's transition_seconds


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(emulator: SaturnEmulator) -> Iterator[ManualClock]:
    """The emulator's clock, moved by the test."""
    manual = ManualClock()
    with emulator.state.lock:
        original, emulator.state.clock = emulator.state.clock, manual
    yield manual
    with emulator.state.lock:
        emulator.state.clock = original


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


def _create(http, command: str, name: str = "job", **fields: Any) -> dict:
    job = _ok(http("POST", "/api/jobs", json={"name": name, "command": command, **fields}), 201)
    Job.model_validate(job)
    return job


def _start(http, job_id: str) -> dict:
    job = _ok(http("POST", f"/api/jobs/{job_id}/start"))
    Job.model_validate(job)
    return job


def _job(http, job_id: str) -> dict:
    return Job.model_validate(_ok(http("GET", f"/api/jobs/{job_id}"))).model_dump()


def _runs(http, job_id: str) -> list[dict]:
    body = _ok(http("GET", f"/api/jobs/{job_id}/runtimesummary"))
    JobRuntimeSummaryList.model_validate(body)
    return body["job_summaries"]


def _history(http, job_id: str) -> list[dict]:
    body = _ok(http("GET", f"/api/jobs/{job_id}/history"))
    ResourceHistory.model_validate(body)
    return body["pods"]


def _active_pods(http, job_id: str) -> list[dict]:
    body = _ok(http("GET", "/api/active/pods", params={"workload_type": "job", "workload_id": job_id}))
    PodRuntimeSummaryList.model_validate(body)
    return body["pod_summaries"]


def _logs_page(http, job_id: str, **params: Any) -> dict:
    body = _ok(http("GET", f"/api/jobs/{job_id}/logs", params=params))
    HistoricLogList.model_validate(body)
    return body


def _read_logs(http, job_id: str, key: str | None = None, **params: Any) -> tuple[list[dict], str | None]:
    """Every line after ``key``, following ``next_key``; and the key the last (empty) page was asked with."""
    lines: list[dict] = []
    while True:
        page = _logs_page(http, job_id, **params, **({"next_key": key} if key else {}))
        lines += page["logs"]
        if page["next_key"] is None:
            assert page["logs"] == []
            return lines, key
        key = page["next_key"]


def _contents(lines: list[dict]) -> list[str]:
    return [line["content"] for line in lines]


# ---------------------------------------------------------------------------------------------- scripted runs


def test_a_run_writes_its_lines_as_its_script_sleeps_then_completes(http, clock) -> None:
    job = _create(http, "echo start; seq 3 && sleep 1.5; echo 'done'")
    assert (job["status"], job["running_count"], job["last_deploy"]) == ("stopped", 0, job["created_at"])
    started = _start(http, job["id"])
    assert (started["status"], started["running_count"]) == ("pending", 1)
    [run] = _runs(http, job["id"])
    assert run["name"].startswith(f"{job['k8s_name']}-0001-") and len(run["name"]) != 32
    assert (run["status"], run["completed_at"], run["conditions"]) == ("pending", None, [])
    assert run["labels"] == {"saturncloud.io/resource-id": job["id"], "job-name": run["name"]}
    assert _read_logs(http, job["id"])[0] == []

    clock.advance(TRANSITION)
    assert _runs(http, job["id"])[0]["status"] == "running"
    assert _job(http, job["id"])["status"] == "running"
    assert _contents(_read_logs(http, job["id"])[0]) == ["start", "1", "2", "3"]
    clock.advance(1.4)
    assert _contents(_read_logs(http, job["id"])[0]) == ["start", "1", "2", "3"]

    clock.advance(0.1)
    [run] = _runs(http, job["id"])
    assert run["status"] == "completed" and run["completed_at"]
    assert [(c["type"], c["status"]) for c in run["conditions"]] == [("Complete", "True")]
    assert _contents(_read_logs(http, job["id"])[0]) == ["start", "1", "2", "3", "done"]
    finished = _job(http, job["id"])
    assert (finished["status"], finished["running_count"]) == ("completed", 0)
    [pod] = _history(http, job["id"])
    assert (pod["status"], pod["label_job_name"]) == ("completed", run["name"])
    assert pod["pod_name"].startswith(run["name"] + "-")


def test_a_script_without_sleep_completes_transition_seconds_after_it_runs(http, clock) -> None:
    job = _create(http, "echo only; python train.py --epochs 3")
    _start(http, job["id"])
    clock.advance(TRANSITION)
    assert _runs(http, job["id"])[0]["status"] == "running"
    assert _contents(_read_logs(http, job["id"])[0]) == ["only", "python train.py --epochs 3"]
    clock.advance(TRANSITION)
    assert _runs(http, job["id"])[0]["status"] == "completed"


def test_a_failing_script_is_retried_in_new_pods_of_the_same_run(http, clock) -> None:
    job = _create(http, "echo attempt; exit 3; echo never", retries=2)
    _start(http, job["id"])
    clock.advance(2 * TRANSITION + 0.1)  # the first pod failed, the second is pending
    [run] = _runs(http, job["id"])
    assert (run["status"], run["active_count"], run["running_count"]) == ("running", 1, 0)
    assert [pod["status"] for pod in _history(http, job["id"])] == ["pending", "error"]
    live = _active_pods(http, job["id"])
    assert [pod["status"] for pod in live] == ["error", "pending"]
    assert [pod["container_summaries"][0]["exit_code"] for pod in live] == [3, None]

    clock.advance(4 * TRANSITION)
    [run] = _runs(http, job["id"])
    assert run["status"] == "error" and run["completed_at"]
    [condition] = run["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Failed", "True", "Error")
    assert condition["message"] == "Command exited with code 3"
    pods = _history(http, job["id"])  # newest first
    assert [pod["status"] for pod in pods] == ["error"] * 3
    assert len({pod["pod_name"] for pod in pods}) == 3
    assert {pod["label_job_name"] for pod in pods} == {run["name"]}
    for pod in pods:
        assert _contents(_read_logs(http, job["id"], pod_name=pod["pod_name"])[0]) == ["attempt"]
        summary = _ok(http("GET", f"/api/active/pods/{pod['pod_name']}"))
        PodRuntimeSummary.model_validate(summary)
        container = summary["container_summaries"][0]
        assert (summary["status"], container["name"], container["exit_code"]) == ("error", "main", 3)
    every_line = _read_logs(http, job["id"])[0]
    assert [line["pod_name"] for line in every_line] == [pod["pod_name"] for pod in reversed(pods)]
    assert _job(http, job["id"])["status"] == "error"
    assert _active_pods(http, job["id"]) == []  # the run ended


# ---------------------------------------------------------------------------------------------- logs


def test_logs_page_with_stable_keys_and_a_later_call_returns_only_newer_lines(http, clock) -> None:
    job = _create(http, "seq 250; sleep 1; echo late 1; echo late 2")
    _start(http, job["id"])
    clock.advance(TRANSITION)

    pages, key = [], None
    while True:
        page = _logs_page(http, job["id"], page_size=100, **({"next_key": key} if key else {}))
        pages.append(page)
        if page["next_key"] is None:
            break
        key = page["next_key"]
    assert [len(page["logs"]) for page in pages] == [100, 100, 50, 0]
    assert _contents([line for page in pages for line in page["logs"]]) == [str(n) for n in range(1, 251)]
    assert pages[0]["prev_key"] is None and pages[1]["prev_key"] == pages[0]["next_key"]
    again = _logs_page(http, job["id"], page_size=100, next_key=pages[1]["prev_key"])
    assert again["logs"] == pages[1]["logs"], "a key always stands for the same position"
    assert _logs_page(http, job["id"], next_key=key) == {"logs": [], "prev_key": key, "next_key": None}

    clock.advance(1.0)
    newer = _logs_page(http, job["id"], next_key=key)
    assert _contents(newer["logs"]) == ["late 1", "late 2"]
    assert _logs_page(http, job["id"], next_key=newer["next_key"])["logs"] == []

    [pod] = _history(http, job["id"])
    by_pod, pod_key = _read_logs(http, job["id"], pod_name=pod["pod_name"], page_size=1000)
    assert _contents(by_pod) == [*map(str, range(1, 251)), "late 1", "late 2"]
    refused = http("GET", f"/api/jobs/{job['id']}/logs", params={"next_key": pod_key})
    assert refused.status_code == 422 and "next_key" in refused.json()["message"]


def test_job_logs_interleave_concurrent_runs_in_time_order(http, clock) -> None:
    job = _create(http, "echo x; sleep 0.5; echo y")
    _start(http, job["id"])
    clock.advance(0.3)
    _start(http, job["id"])
    clock.advance(0.3)  # first run: x at 0.2; second: x at 0.5
    first, second = (run["name"] for run in _runs(http, job["id"]))
    lines, key = _read_logs(http, job["id"], page_size=1)
    assert [(line["content"], line["pod_name"].rsplit("-", 1)[0]) for line in lines] == [("x", first), ("x", second)]
    clock.advance(0.5)  # first: y at 0.7; second: y at 1.0
    newer, _ = _read_logs(http, job["id"], key)
    assert [(line["content"], line["pod_name"].rsplit("-", 1)[0]) for line in newer] == [("y", first), ("y", second)]
    assert all(line["container_name"] == "main" and line["timestamp"] for line in lines + newer)


# ---------------------------------------------------------------------------------------------- stops


def test_stopping_one_run_leaves_the_other_running(http, clock) -> None:
    job = _create(http, "echo before; sleep 10; echo after")
    _start(http, job["id"])
    assert _start(http, job["id"])["running_count"] == 2
    clock.advance(0.3)
    first, second = (run["name"] for run in _runs(http, job["id"]))
    assert first != second

    answer = _ok(http("POST", f"/api/jobs/{job['id']}/stop/{first}"))
    Job.model_validate(answer)
    assert (answer["status"], answer["running_count"]) == ("running", 1)
    assert [run["status"] for run in _runs(http, job["id"])] == ["stopping", "running"]
    clock.advance(TRANSITION)
    runs = _runs(http, job["id"])
    assert [run["status"] for run in runs] == ["stopped", "running"]
    assert runs[0]["completed_at"] and runs[0]["conditions"] == []
    first_pod = next(pod for pod in _history(http, job["id"]) if pod["label_job_name"] == first)
    assert first_pod["status"] == "stopped"

    clock.advance(10)
    assert _contents(_read_logs(http, job["id"], pod_name=first_pod["pod_name"])[0]) == ["before"]
    assert [run["status"] for run in _runs(http, job["id"])] == ["stopped", "completed"]
    assert _ok(http("POST", f"/api/jobs/{job['id']}/stop/{second}"))["status"] == "completed", "ended: unchanged"
    missing = http("POST", f"/api/jobs/{job['id']}/stop/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "Job run nope not found"})


def test_stop_stops_every_active_run_even_a_pending_one(http, clock) -> None:
    job = _create(http, "echo hi; sleep 5")
    _start(http, job["id"])
    clock.advance(0.3)
    _start(http, job["id"])  # still pending when stopped
    stopped = _ok(http("POST", f"/api/jobs/{job['id']}/stop"))
    Job.model_validate(stopped)
    assert (stopped["status"], stopped["running_count"]) == ("stopping", 0)
    clock.advance(TRANSITION)
    assert [run["status"] for run in _runs(http, job["id"])] == ["stopped", "stopped"]
    assert _job(http, job["id"])["status"] == "stopped"
    assert _contents(_read_logs(http, job["id"])[0]) == ["hi"], "the pending run never wrote"
    pending_pod = _history(http, job["id"])[0]
    summary = _ok(http("GET", f"/api/active/pods/{pending_pod['pod_name']}"))
    assert (summary["status"], summary["container_summaries"][0]["exit_code"]) == ("stopped", None)


def test_delete_refuses_a_job_with_an_active_run_unless_allowed(http, clock) -> None:
    job = _create(http, "sleep 5")
    _start(http, job["id"])
    refused = http("DELETE", f"/api/jobs/{job['id']}")
    assert refused.status_code == 409 and "allow_active" in refused.json()["message"]
    assert http("DELETE", f"/api/jobs/{job['id']}", params={"allow_active": "true"}).status_code == 204
    assert http("GET", f"/api/jobs/{job['id']}").status_code == 404
    finished = _create(http, "echo done", name="finished")
    _start(http, finished["id"])
    clock.advance(3 * TRANSITION)  # pending, then running, then well past its end
    assert http("DELETE", f"/api/jobs/{finished['id']}").status_code == 204
    assert _create(http, "echo again", name="finished")["name"] == "finished", "the name is free again"


# ---------------------------------------------------------------------------------------------- late runs


def test_a_late_run_is_missing_from_summaries_history_and_active_pods(http, emulator, clock) -> None:
    answer = requests.post(emulator.url + "/_emulator/config", json={"run_visibility_delay": 1.0}, timeout=5)
    assert _ok(answer) == {"transition_seconds": TRANSITION, "run_visibility_delay": 1.0}
    assert _ok(requests.get(emulator.url + "/_emulator/config", timeout=5))["run_visibility_delay"] == 1.0
    job = _create(http, "echo hi; sleep 5")
    started = _start(http, job["id"])
    assert (started["status"], started["running_count"]) == ("pending", 1), "the job itself knows at once"
    clock.advance(0.9)
    assert _job(http, job["id"])["status"] == "running"
    assert (_runs(http, job["id"]), _history(http, job["id"]), _active_pods(http, job["id"])) == ([], [], [])
    clock.advance(0.1)
    [run] = _runs(http, job["id"])
    assert run["status"] == "running"
    assert [pod["label_job_name"] for pod in _history(http, job["id"])] == [run["name"]]
    assert [pod["labels"]["job-name"] for pod in _active_pods(http, job["id"])] == [run["name"]]

    assert emulator.configure(run_visibility_delay=0.25)["run_visibility_delay"] == 0.25
    for bad in ({"run_visibility_delay": -1}, {"run_visibility_delay": "soon"}, {"visibility": 1}):
        refused = requests.post(emulator.url + "/_emulator/config", json=bad, timeout=5)
        assert refused.status_code == 422 and refused.json()["message"], bad
    assert _ok(requests.post(emulator.url + "/_emulator/reset", timeout=5)) == {"reset": True}
    assert _ok(requests.get(emulator.url + "/_emulator/config", timeout=5))["run_visibility_delay"] == 0.0


def test_the_constructor_and_the_command_line_set_the_visibility_delay() -> None:
    from airflow_provider_saturn.emulator.__main__ import parse_args

    assert parse_args(["--run-visibility-delay", "1.5"]).run_visibility_delay == 1.5
    with SaturnEmulator(token=TOKEN, run_visibility_delay=2.5) as server:
        assert _ok(requests.get(server.url + "/_emulator/config", timeout=5))["run_visibility_delay"] == 2.5


# ---------------------------------------------------------------------------------------------- live pods


def test_active_pods_show_a_running_pod_and_its_latest_lines(http, clock) -> None:
    job = _create(http, "echo a; echo b; sleep 5")
    _start(http, job["id"])
    clock.advance(0.3)
    [pod] = _active_pods(http, job["id"])
    [run] = _runs(http, job["id"])
    assert pod["labels"] == {"job-name": run["name"], "saturncloud.io/resource-id": job["id"]}
    assert (pod["status"], pod["container_summaries"][0]["status"]) == ("running", "running")
    one = _ok(http("GET", f"/api/active/pods/{pod['name']}"))
    PodRuntimeSummary.model_validate(one)
    assert one["name"] == pod["name"]
    logs = _ok(http("GET", f"/api/active/pods/{pod['name']}/logs"))
    PodLogs.model_validate(logs)
    assert logs == {"logs": "a\nb"}
    assert _ok(http("GET", f"/api/active/pods/{pod['name']}/logs", params={"page_size": 1})) == {"logs": "b"}
    other = http("GET", f"/api/active/pods/{pod['name']}/logs", params={"container_name": "sidecar"})
    assert other.status_code == 404 and "sidecar" in other.json()["message"]
    assert http("GET", f"/api/active/pods/{pod['name']}/logs", params={"page_size": 5001}).status_code == 422
    workspaces = _ok(http("GET", "/api/active/pods", params={"workload_type": "workspace", "workload_id": "x"}))
    assert workspaces["pod_summaries"] == []


def test_active_pod_lists_are_paged(http, clock) -> None:
    job = _create(http, "sleep 5")
    for _ in range(3):
        _start(http, job["id"])
    query = {"workload_type": "job", "workload_id": job["id"], "page_size": 2}
    first = _ok(http("GET", "/api/active/pods", params=query))
    second = _ok(http("GET", "/api/active/pods", params={**query, "next_key": first["next_key"]}))
    names = [pod["name"] for pod in first["pod_summaries"] + second["pod_summaries"]]
    assert len(set(names)) == 3 and second["next_key"] is None


# ---------------------------------------------------------------------------------------------- bodies and errors


def test_settings_are_checked_kept_and_shown(http) -> None:
    job = _create(
        http,
        "echo hi",
        name="nightly",
        description="Nightly features",
        instance_size="xlarge",
        image_uri="saturncloud/saturn:2026.02.01",
        environment_variables={"stage": "prod"},
        start_script="pip install x",
        working_dir="/home/jovyan/project",
        scale=2,
        retries=3,
        extra_packages={"pip": "pandas", "use_mamba": True},
        tags={"team": "data"},
        config_files={".config/app.toml": {"content": "x = 1"}},
        is_spot=True,
        start_dind=False,
        cron_schedule_options={"schedule": "0 3 * * *"},
        owner={"name": "someone"},
        image_enforce_trusted=True,
        external_repo_attachments=[],
    )
    assert job["environment_variables"] == {"STAGE": "prod"}
    assert (job["instance_size"], job["scale"], job["retries"], job["is_spot"]) == ("xlarge", 2, 3, True)
    assert job["image_tag"]["image_uri"] == "saturncloud/saturn:2026.02.01"
    assert job["config_files"] == {".config/app.toml": {"content": "x = 1", "mode": "0644"}}
    assert job["cron_schedule_options"] == {"schedule": "0 3 * * *", "concurrency_policy": "Allow"}
    assert job["scheduled"] is True and job["extra_packages"]["pip"] == "pandas"
    assert job["resource_type"] == "job" and len(job["id"]) == 32


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "echo"}, "name"),
        ({"name": " ", "command": "echo"}, "name"),
        ({"name": "j"}, "command"),
        ({"name": "j", "command": ""}, "command"),
        ({"name": "j", "command": None}, "command"),
        ({"name": "j", "command": "sleep soon"}, "command"),
        ({"name": "j", "command": "seq 100001"}, "command"),
        ({"name": "j", "command": "exit 256"}, "command"),
        ({"name": "j", "command": "echo", "instance_size": "huge"}, "instance_size"),
        ({"name": "j", "command": "echo", "environment_variables": {"A": 1}}, "environment_variables"),
        ({"name": "j", "command": "echo", "scale": 0}, "scale"),
        ({"name": "j", "command": "echo", "retries": -1}, "retries"),
        ({"name": "j", "command": "echo", "retries": True}, "retries"),
        ({"name": "j", "command": "echo", "description": "x" * 2049}, "description"),
        ({"name": "j", "command": "echo", "is_spot": "yes"}, "is_spot"),
        ({"name": "j", "command": "echo", "extra_packages": {"npm": "x"}}, "extra_packages.npm"),
        ({"name": "j", "command": "echo", "cron_schedule_options": {"when": "now"}}, "cron_schedule_options"),
        ({"name": "j", "command": "echo", "subdomain": "x"}, "subdomain"),
    ],
)
def test_bad_create_bodies_are_422_naming_the_field(http, body, field) -> None:
    response = http("POST", "/api/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{field}:")


def test_names_are_unique_and_lists_are_paged_and_filtered(http) -> None:
    first, second = _create(http, "echo", name="etl-first"), _create(http, "echo", name="etl-second")
    _create(http, "echo", name="other")
    assert http("POST", "/api/jobs", json={"name": "etl-first", "command": "echo"}).status_code == 409
    assert http("PATCH", f"/api/jobs/{second['id']}", json={"name": "etl-first"}).status_code == 409
    renamed = _ok(http("PATCH", f"/api/jobs/{second['id']}", json={"name": "etl-renamed", "scale": 3}))
    Job.model_validate(renamed)
    assert (renamed["name"], renamed["scale"]) == ("etl-renamed", 3)
    listing = _ok(http("GET", "/api/jobs", params={"name": "etl", "page_size": 1}))
    JobList.model_validate(listing)
    assert [job["id"] for job in listing["jobs"]] == [first["id"]]
    rest = _ok(http("GET", "/api/jobs", params={"name": "etl", "next_key": listing["next_key"]}))
    assert [job["name"] for job in rest["jobs"]] == ["etl-renamed"] and rest["next_key"] is None
    assert http("PATCH", f"/api/jobs/{first['id']}", json={"retries": "3"}).status_code == 422


def test_an_update_applies_to_the_next_run_only(http, clock) -> None:
    job = _create(http, "echo old; sleep 5")
    _start(http, job["id"])
    clock.advance(0.3)
    updated = _ok(http("PATCH", f"/api/jobs/{job['id']}", json={"command": "echo new"}))
    assert (updated["command"], updated["require_restart"]) == ("echo new", True)
    restarted = _start(http, job["id"])
    assert restarted["require_restart"] is False
    clock.advance(0.3)
    assert _contents(_read_logs(http, job["id"])[0]) == ["old", "new"]


def test_unknown_resources_are_404_and_bad_queries_422(http) -> None:
    missing = "c" * 32
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop")):
        response = http(method, f"/api/jobs/{missing}{path}", json={} if method == "PATCH" else None)
        assert (response.status_code, response.json()) == (404, {"message": f"Job {missing} not found"}), path
    for path in ("/runtimesummary", "/history", "/logs"):
        assert http("GET", f"/api/jobs/{missing}{path}").status_code == 404
    job = _create(http, "echo")
    assert _logs_page(http, job["id"], pod_name="no-such-pod") == {"logs": [], "prev_key": None, "next_key": None}
    for params in ({"next_key": "garbage"}, {"page_size": 0}, {"page_size": 1001}, {"page_size": "x"}):
        response = http("GET", f"/api/jobs/{job['id']}/logs", params=params)
        assert response.status_code == 422 and response.json()["message"], params
    assert http("GET", f"/api/jobs/{job['id']}/runtimesummary", params={"next_key": "nope"}).status_code == 422
    assert http("GET", "/api/active/pods/no-such-pod").json() == {"message": "Pod no-such-pod not found"}
    assert http("GET", "/api/active/pods/no-such-pod/logs").status_code == 404
    for params in ({"workload_type": "job"}, {"workload_type": "robot", "workload_id": job["id"]}):
        assert http("GET", "/api/active/pods", params=params).status_code == 422
    assert http("GET", "/api/active/pods", params={"workload_type": "job", "workload_id": missing}).status_code == 404
    assert http("POST", f"/api/jobs/{job['id']}/start", json={"debug_mode": "yes"}).status_code == 422
    assert http("POST", f"/api/jobs/{job['id']}/start", json={"debug": True}).status_code == 422


def test_request_statistics_name_runs_and_pods_by_placeholders(http, emulator, clock) -> None:
    job = _create(http, "sleep 5")
    _start(http, job["id"])
    [run] = _runs(http, job["id"])
    [pod] = _active_pods(http, job["id"])
    http("GET", f"/api/active/pods/{pod['name']}")
    http("GET", f"/api/active/pods/{pod['name']}/logs")
    http("POST", f"/api/jobs/{job['id']}/stop/{run['name']}")
    routes = emulator.config.stats.by_route
    for route in (
        "POST /api/jobs",
        "POST /api/jobs/{id}/start",
        "GET /api/jobs/{id}/runtimesummary",
        "GET /api/active/pods",
        "GET /api/active/pods/{pod}",
        "GET /api/active/pods/{pod}/logs",
        "POST /api/jobs/{id}/stop/{run}",
    ):
        assert routes.get(route) == 1, (route, routes)


# ---------------------------------------------------------------------------------------------- Saturn's client


async def test_saturn_api_client_creates_starts_and_reads_a_job(emulator) -> None:
    async with ApiClient(Configuration(host=emulator.url, access_token=TOKEN)) as api:
        jobs = JobsApi(api)
        job = await jobs.create(JobCreate(name="from-saturn-api", command="echo hello; seq 3", retries=1))
        assert (job.status, job.retries) == ("stopped", 1)
        started = await jobs.start(job.id, JobStart(debug_mode=True))
        assert (started.status, started.running_count, started.debug_mode) == ("pending", 1, True)
        deadline = time.monotonic() + 5
        while (await jobs.get(job.id)).status != "completed":
            assert time.monotonic() < deadline, "the run did not complete"
            await asyncio.sleep(0.05)
        summaries = await jobs.list_runtime_summaries(job.id)
        [run] = summaries.job_summaries
        assert run.status == "completed" and run.completed_at is not None
        logs = await jobs.get_logs(job.id, page_size=2)
        assert [line.content for line in logs.logs] == ["hello", "1"]
        rest = await jobs.get_logs(job.id, next_key=logs.next_key)
        assert [line.content for line in rest.logs] == ["2", "3"]
        [pod] = (await jobs.get_pod_history(job.id)).pods
        assert pod.label_job_name == run.name
        summary = await ActiveApi(api).get_pod(pod.pod_name)
        assert summary.container_summaries[0].exit_code == 0
        assert (await ActiveApi(api).get_pod_logs(pod.pod_name)).logs == "hello\n1\n2\n3"
        assert (await ActiveApi(api).list_pods(WorkloadType.JOB, job.id)).pod_summaries == []
        assert (await jobs.stop_run(job.id, run.name)).status == "completed"
        await jobs.delete(job.id)
        assert (await jobs.list()).jobs == []


def test_a_test_can_make_saturn_report_any_status_for_a_run(http, emulator, clock) -> None:
    """For statuses a Saturn version may spell otherwise (``Completed``) or that no spec knows."""
    job = _create(http, "sleep 5")
    _start(http, job["id"])
    (run,) = _runs(http, job["id"])
    with emulator.state.lock:
        emulator.state.jobs.report_status(job["id"], run["name"], "Completed")
    assert _ok(http("GET", f"/api/jobs/{job['id']}/runtimesummary"))["job_summaries"][0]["status"] == "Completed"
    with emulator.state.lock:
        emulator.state.jobs.report_status(job["id"], run["name"], None)
    assert _runs(http, job["id"])[0]["status"] == "pending", "its own status again"
