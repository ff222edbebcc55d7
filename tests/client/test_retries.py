"""Recovery from 503, 429 and dropped connections within the bound; a clear error past it; no duplicates."""

from __future__ import annotations

import time

import pytest

from airflow_provider_saturn.client import (
    RetryPolicy,
    SaturnAPIError,
    SaturnClient,
    SaturnTransientError,
)
from tests.conftest import FAST_RETRY, TOKEN, requests_to


def test_recovers_from_503_429_and_a_dropped_connection(client: SaturnClient, emulator) -> None:
    project = client.create_project("flaky")
    emulator.set_faults(queue=["error", "throttle", "drop"], retry_after=0)
    assert client.get_project(project["id"])["name"] == "flaky"
    assert requests_to(emulator, "GET /api/workspaces/{id}") == 4


def test_retry_after_is_honoured(emulator) -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=5.0)
    client = SaturnClient(url=emulator.url, api_token=TOKEN, retry=policy)
    emulator.set_faults(queue=["throttle"], retry_after=0.4)
    started = time.monotonic()
    client.get_status()
    assert time.monotonic() - started >= 0.4


def test_gives_up_after_max_attempts_with_the_last_error(client: SaturnClient, emulator) -> None:
    emulator.set_faults(queue=["error"] * FAST_RETRY.max_attempts)
    with pytest.raises(SaturnTransientError) as caught:
        client.list_projects()
    assert caught.value.status_code == 503
    assert "Emulated server error" in str(caught.value)
    assert requests_to(emulator, "GET /api/workspaces") == FAST_RETRY.max_attempts


def test_gives_up_when_the_total_time_bound_is_spent(emulator) -> None:
    policy = RetryPolicy(max_attempts=100, max_total_seconds=0.5, initial_wait=0.0, max_wait=1.0)
    client = SaturnClient(url=emulator.url, api_token=TOKEN, retry=policy)
    emulator.set_faults(throttle_rate=1.0, retry_after=0.2)
    started = time.monotonic()
    with pytest.raises(SaturnTransientError) as caught:
        client.get_status()
    assert caught.value.status_code == 429
    assert time.monotonic() - started < 3
    assert emulator.config.stats.requests < 10


def test_a_request_timeout_is_retried_then_reported(emulator) -> None:
    client = SaturnClient(url=emulator.url, api_token=TOKEN, retry=FAST_RETRY, timeout=0.1)
    emulator.set_faults(latency=0.3)
    with pytest.raises(SaturnTransientError, match=r"within the request timeout of 0\.1s"):
        client.get_status()
    emulator.set_faults()
    assert client.get_status()["status"] == "ok"


def test_other_4xx_are_never_retried(client: SaturnClient, emulator) -> None:
    from airflow_provider_saturn.client.responses import RequestTarget

    with pytest.raises(SaturnAPIError) as caught:
        client._retrying(lambda: client._send(RequestTarget("POST", "api/workspaces"), json={}))
    assert caught.value.status_code == 422
    assert requests_to(emulator, "POST /api/workspaces") == 1


def test_create_retried_after_a_lost_answer_makes_one_project(client: SaturnClient, emulator) -> None:
    client.options  # noqa: B018 - read now, so that the queued fault lands on the POST, not on this read
    emulator.set_faults(queue=["drop"])
    project = client.create_project("exactly-once", jupyter_size="large")
    assert emulator.config.stats.faults == {"drop": 1}
    assert requests_to(emulator, "POST /api/workspaces") == 1, "found by name instead of sent again"
    assert requests_to(emulator, "GET /api/workspaces") == 1, "the search for what the lost attempt made"
    assert [p["id"] for p in client.list_projects()] == [project["id"]]
    assert project["instance_size"] == "large"


def test_create_retried_after_a_5xx_before_it_took_effect_creates_it(client: SaturnClient, emulator) -> None:
    emulator.set_faults(queue=["error"])
    project = client.create_project("second-try")
    assert requests_to(emulator, "POST /api/workspaces") == 2
    assert [p["id"] for p in client.list_projects()] == [project["id"]]


def test_dask_cluster_create_retried_after_a_lost_answer_makes_one(client: SaturnClient, emulator) -> None:
    project = client.create_project("dask-once")
    emulator.set_faults(queue=["drop"])
    cluster = client.create_dask_cluster(project["id"])
    assert requests_to(emulator, "POST /api/dask_clusters") == 1
    assert client.get_project(project["id"])["dask_cluster_id"] == cluster["id"]
    assert len(emulator.state.dask_clusters) == 1


def test_delete_retried_after_a_lost_answer_succeeds(client: SaturnClient, emulator) -> None:
    project = client.create_project("delete-once")
    emulator.set_faults(queue=["drop"])
    client.delete_project(project["id"])
    assert client.list_projects() == []


def test_fault_draws_are_deterministic_under_a_seed() -> None:
    from airflow_provider_saturn.emulator.faults import FaultPlan, FaultSettings

    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(FaultSettings(error_rate=0.2, throttle_rate=0.1, drop_rate=0.1, seed=seed))
        return [plan.next_fault() for _ in range(200)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    kinds = draws(7)
    assert 20 <= kinds.count("error") <= 60
    assert kinds.count(None) > 100


def test_a_server_that_is_down_is_retried_then_reported_clearly() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SaturnClient(url=f"http://127.0.0.1:{port}", api_token=TOKEN, retry=FAST_RETRY)
    with pytest.raises(SaturnTransientError) as caught:
        client.get_status()
    assert caught.value.status_code is None
    assert "ConnectionError" in str(caught.value)
    assert "GET /api/status" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_retry_after_as_an_http_date() -> None:
    from email.utils import formatdate

    from airflow_provider_saturn.client.responses import parse_retry_after

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_five_seconds = parse_retry_after(formatdate(time.time() + 5, usegmt=True))
    assert in_five_seconds is not None
    assert 3.0 <= in_five_seconds <= 5.0


def test_retry_policy_from_connection_extras() -> None:
    policy = RetryPolicy.from_dict({"max_attempts": "3", "max_wait": 2})
    assert (policy.max_attempts, policy.max_wait) == (3, 2.0)
    assert RetryPolicy.from_dict(None) == RetryPolicy()
    with pytest.raises(ValueError, match="Unknown retry settings"):
        RetryPolicy.from_dict({"attempts": 3})
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
