"""Saturn Jobs and Deployments through the client, against the emulator over real HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnInvalidOptionError, SaturnNotFoundError
from airflow_provider_saturn.client.errors import SaturnInvalidIdError
from airflow_provider_saturn.client.logs import LogCursor
from tests.conftest import requests_to


def wait_until(check: Any, limit: float = 15.0) -> Any:
    """Poll ``check()`` until it returns something truthy; bounded."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not true within {limit}s")


def run_to_end(client: SaturnClient, run: dict[str, Any]) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        now = client.get_job_run(run["job_id"], run["run_name"])
        return now if now["status"] in ("completed", "error", "stopped") else None

    return wait_until(ended)


def test_create_find_update_delete_a_job(client: SaturnClient, emulator) -> None:
    job = client.create_job("nightly", "echo hello", instance_size="large", environment_variables={"stage": "t"})
    assert job["name"] == "nightly" and job["status"] == "stopped"
    assert job["environment_variables"] == {"STAGE": "t"}
    assert (client.find_job_by_name("nightly") or {}).get("id") == job["id"]
    assert client.find_job_by_name("night") is None, "the name filter is a substring; the find is exact"
    assert client.get_job(job["id"])["command"] == "echo hello"
    assert client.update_job(job["id"], command="echo bye")["command"] == "echo bye"
    assert [item["id"] for item in client.list_jobs()] == [job["id"]]
    client.delete_job(job["id"])
    with pytest.raises(SaturnNotFoundError, match="Saturn has no job with id"):
        client.get_job(job["id"])


def test_job_settings_are_checked_before_anything_is_sent(client: SaturnClient, emulator) -> None:
    with pytest.raises(SaturnInvalidOptionError, match=r"Proposed size: huge is not a valid option. Options are: \["):
        client.create_job("j", "echo", instance_size="huge")
    bad_settings: list[dict[str, Any]] = [
        {"command": ""},
        {"command": "echo", "scale": 0},
        {"command": "echo", "retries": -1},
        {"command": "echo", "environment_variables": ["A=1"]},
    ]
    for bad in bad_settings:
        with pytest.raises(SaturnInvalidOptionError):
            client.create_job("j", **bad)
    assert requests_to(emulator, "POST /api/jobs") == 0


def test_a_job_carries_tags_packages_and_config_files(client: SaturnClient, emulator) -> None:
    files = {".saturn-airflow/settings.json": {"content": "{}", "mode": "0600"}}
    job = client.create_job(
        "shipped", "echo hi", tags={"airflow_dag_id": "d"}, extra_packages={"pip": "pandas"}, config_files=files
    )
    assert job["tags"] == {"airflow_dag_id": "d"}
    assert job["extra_packages"]["pip"] == "pandas"
    assert job["config_files"][".saturn-airflow/settings.json"]["content"] == "{}"
    changed = {".saturn-airflow/settings.json": {"content": '{"a": 1}', "mode": "0600"}}
    assert client.update_job(job["id"], config_files=changed)["config_files"] == changed


@pytest.mark.parametrize(
    "setting",
    [
        {"tags": {"a": 1}},
        {"tags": ["a"]},
        {"extra_packages": {"npm": "left-pad"}},
        {"extra_packages": {"pip": ["pandas"]}},
        {"config_files": {"x": "text"}},
        {"config_files": {"x": {"content": "t", "owner": "root"}}},
        {"config_files": {"": {"content": "t"}}},
    ],
)
def test_odd_tags_packages_or_files_are_refused_before_anything_is_sent(
    client: SaturnClient, emulator, setting: dict[str, Any]
) -> None:
    with pytest.raises(SaturnInvalidOptionError):
        client.create_job("odd", "echo hi", **setting)
    assert requests_to(emulator, "POST /api/jobs") == 0


def test_a_create_whose_answer_was_lost_makes_one_job(client: SaturnClient, emulator) -> None:
    emulator.set_faults(queue=["drop"])
    job = client.create_job("once", "echo")
    assert requests_to(emulator, "POST /api/jobs") == 1
    assert [item["id"] for item in client.list_jobs()] == [job["id"]]


def test_start_returns_the_run_it_made_and_the_run_completes(client: SaturnClient, emulator) -> None:
    job = client.create_job("runs", "echo hello")
    first = client.start_job(job["id"])
    assert first["job_id"] == job["id"] and first["run_name"] and first["status"] in ("pending", "running")
    assert first["id"] == f"{job['id']}/{first['run_name']}"
    assert run_to_end(client, first)["status"] == "completed"
    second = client.start_job(job["id"])
    assert second["run_name"] != first["run_name"], "the earlier run is not taken for the new one"
    assert [run["run_name"] for run in client.list_job_runs(job["id"])] == [first["run_name"], second["run_name"]]


def test_a_failing_run_says_why(client: SaturnClient, emulator) -> None:
    job = client.create_job("fails", "echo about to fail; exit 3")
    run = run_to_end(client, client.start_job(job["id"]))
    assert run["status"] == "error"
    assert "3" in (run["message"] or "")


def test_a_run_that_shows_up_late_is_still_found(client: SaturnClient, emulator) -> None:
    emulator.configure(run_visibility_delay=1.0)
    job = client.create_job("late", "sleep 2")
    started = time.monotonic()
    run = client.start_job(job["id"])
    assert time.monotonic() - started >= 1.0, "it waited for the run"
    assert run["run_name"] in {item["run_name"] for item in client.list_job_runs(job["id"])}


def test_a_start_whose_answer_was_lost_makes_one_run(client: SaturnClient, emulator, monkeypatch) -> None:
    job = client.create_job("start-once", "sleep 1")
    faults = emulator.config.faults
    unplanned = faults.next_fault
    arrivals = iter(range(1000))
    # start_job lists the runs (request 0), then POSTs the start (request 1): its answer is lost.
    monkeypatch.setattr(faults, "next_fault", lambda: "drop" if next(arrivals) == 1 else unplanned())
    run = client.start_job(job["id"])
    monkeypatch.undo()
    assert emulator.config.stats.faults == {"drop": 1}
    assert requests_to(emulator, "POST /api/jobs/{id}/start") == 1, "not sent again"
    assert [item["run_name"] for item in client.list_job_runs(job["id"])] == [run["run_name"]]


def test_concurrent_starts_each_get_their_own_run(client: SaturnClient, emulator) -> None:
    job = client.create_job("busy", "sleep 2")
    runs: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            runs.append(client.start_job(job["id"]))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len({run["run_name"] for run in runs}) == 3
    assert {run["run_name"] for run in runs} == {item["run_name"] for item in client.list_job_runs(job["id"])}


def test_stopping_one_run_leaves_the_others(client: SaturnClient, emulator) -> None:
    job = client.create_job("two", "sleep 5")
    first, second = client.start_job(job["id"]), client.start_job(job["id"])
    assert client.stop_job_run(job["id"], first["run_name"])["status"] in ("stopping", "stopped")
    assert run_to_end(client, first)["status"] == "stopped"
    assert client.get_job_run(job["id"], second["run_name"])["status"] in ("pending", "running")
    with pytest.raises(SaturnNotFoundError, match="Saturn has no job run with id"):
        client.get_job_run(job["id"], "no-such-run")


def test_logs_longer_than_a_page_arrive_complete_in_order_once(client: SaturnClient, emulator) -> None:
    job = client.create_job("chatty", "seq 2500")
    run = run_to_end(client, client.start_job(job["id"]))
    lines = [line["content"] for line in client.job_logs(job["id"], run["run_name"])]
    assert lines == [str(number) for number in range(1, 2501)]
    assert requests_to(emulator, "GET /api/jobs/{id}/logs") >= 3, "1000 lines a page"


def test_a_cursor_returns_only_what_was_written_since(client: SaturnClient, emulator) -> None:
    job = client.create_job("streaming", "echo one; echo two; sleep 1; echo three; sleep 1; echo four")
    run = client.start_job(job["id"])
    cursor = LogCursor()
    seen: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        seen += [line["content"] for line in client.job_logs(job["id"], run["run_name"], since=cursor)]
        if client.get_job_run(job["id"], run["run_name"])["status"] == "completed":
            seen += [line["content"] for line in client.job_logs(job["id"], run["run_name"], since=cursor)]
            break
        time.sleep(0.1)
    assert seen == ["one", "two", "three", "four"]
    assert LogCursor.from_json(cursor.to_json()) == cursor


def test_a_failed_pod_is_retried_and_every_pod_logs(client: SaturnClient, emulator) -> None:
    job = client.create_job("flaky", "echo try; exit 1", retries=2)
    run = run_to_end(client, client.start_job(job["id"]))
    assert run["status"] == "error"
    lines = list(client.job_logs(job["id"], run["run_name"]))
    assert [line["content"] for line in lines] == ["try"] * 3
    assert len({line["pod_name"] for line in lines}) == 3


def test_run_names_and_job_ids_are_checked(client: SaturnClient, emulator) -> None:
    for call in (
        lambda: client.get_job_run("a" * 32, "../x"),
        lambda: client.stop_job_run("a" * 32, "r?all=1"),
        lambda: client.start_job(""),
        lambda: list(client.job_logs("../jobs", "r")),
    ):
        with pytest.raises(SaturnInvalidIdError):
            call()
    assert emulator.config.stats.requests == 0


def test_deployments_start_and_stop(client: SaturnClient, emulator, http_create_deployment) -> None:
    deployment = http_create_deployment("dashboard")
    assert (client.find_deployment_by_name("dashboard") or {}).get("id") == deployment["id"]
    assert client.start_deployment(deployment["id"])["status"] == "pending"
    assert wait_until(lambda: client.get_deployment(deployment["id"])["status"] == "running")
    assert client.stop_deployment(deployment["id"])["status"] == "stopping"
    assert wait_until(lambda: client.get_deployment(deployment["id"])["status"] == "stopped")
    assert [item["id"] for item in client.list_deployments()] == [deployment["id"]]


@pytest.fixture
def http_create_deployment(emulator) -> Any:
    import requests

    from tests.conftest import TOKEN

    def create(name: str) -> dict[str, Any]:
        response = requests.post(
            f"{emulator.url}/api/deployments",
            json={"name": name, "command": "python serve.py"},
            headers={"Authorization": f"token {TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 201, response.text
        return response.json()

    return create


def test_a_listed_run_whose_name_cannot_go_into_a_url_keeps_its_name_but_has_no_key() -> None:
    from airflow_provider_saturn.client.job_runs import job_run_from_summary, unusable_name_problem

    bad = job_run_from_summary("a" * 32, {"name": "a/b", "status": "Running"})
    assert (bad["run_name"], bad["id"], bad["status"]) == ("a/b", None, "running")
    good = job_run_from_summary("a" * 32, {"name": "job-1", "status": "running"})
    assert good["id"] == f"{'a' * 32}/job-1"
    assert unusable_name_problem("a/b") is not None and unusable_name_problem("job-1") is None
