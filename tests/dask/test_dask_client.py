"""``SaturnClient.get_dask_client`` against the emulator's real Dask clusters: mutual TLS as dask-saturn does it,
a computation's result, and what it refuses (clearly) before or instead of connecting."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator

import pytest

from airflow_provider_saturn.client import (
    SaturnAuthError,
    SaturnClient,
    SaturnDaskClusterError,
    SaturnInvalidOptionError,
    SaturnNotFoundError,
    SaturnTransientError,
)
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import FAST_RETRY, TOKEN, requests_to

MISSING = "ffffffffffffffffffffffffffffffff"


@pytest.fixture
def dask_client_of(emulator_dask: SaturnEmulator) -> Iterator[SaturnClient]:
    with SaturnClient(url=emulator_dask.url, api_token=TOKEN, retry=FAST_RETRY, timeout=10) as client:
        yield client


def _running_cluster(client: SaturnClient, name: str = "dask-client-test", n_workers: int = 1) -> tuple[str, str]:
    """A project with a running cluster: (project id, cluster id)."""
    project = client.create_project(name)
    cluster = client.create_dask_cluster(project["id"], n_workers=n_workers, nthreads=1)
    client.start_dask_cluster(cluster["id"])
    _wait_running(client, cluster["id"])
    return project["id"], cluster["id"]


def _wait_running(client: SaturnClient, cluster_id: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while client.get_dask_cluster(cluster_id)["status"] != "running":
        assert time.monotonic() < deadline, "the cluster did not start"
        time.sleep(0.1)


def test_a_client_computes_on_the_cluster_in_three_requests(emulator_dask, dask_client_of, caplog):
    _, cluster_id = _running_cluster(dask_client_of)
    before = emulator_dask.config.stats.requests
    caplog.set_level(logging.DEBUG)
    with dask_client_of.get_dask_client(cluster_id, timeout=20) as dask:
        assert dask.submit(sum, [1, 2, 3]).result(timeout=20) == 6
        import dask.array as da

        assert int(da.arange(1000, chunks=100).sum().compute()) == 499500
        assert str(dask.scheduler.address).startswith("tls://127.0.0.1:")
    assert emulator_dask.config.stats.requests - before == 3
    assert requests_to(emulator_dask, "POST /api/dask_clusters/{id}/csr") == 1
    assert "PRIVATE KEY" not in caplog.text


def test_a_project_id_finds_its_cluster(dask_client_of):
    project_id, _ = _running_cluster(dask_client_of, "dask-by-project")
    with dask_client_of.get_dask_client(project_id=project_id, timeout=20) as dask:
        assert dask.submit(lambda x: x * 2, 21).result(timeout=20) == 42


def test_the_info_gives_the_tls_address_and_dashboard(dask_client_of):
    _, cluster_id = _running_cluster(dask_client_of, "dask-info")
    info = dask_client_of.dask_cluster_info(cluster_id)
    assert info["scheduler_address"].startswith("tls://127.0.0.1:")
    assert info["dashboard_link"] is None or info["dashboard_link"].startswith("http")


def test_a_stopped_cluster_fails_at_once_saying_how_to_start_it(emulator_dask, dask_client_of):
    project = dask_client_of.create_project("dask-stopped")
    cluster = dask_client_of.create_dask_cluster(project["id"], n_workers=1)
    before = emulator_dask.config.stats.requests
    with pytest.raises(SaturnDaskClusterError) as caught:
        dask_client_of.get_dask_client(cluster["id"])
    assert "stopped, not running" in str(caught.value) and "SaturnStartDaskClusterOperator" in str(caught.value)
    assert cluster["id"] in str(caught.value)
    assert emulator_dask.config.stats.requests - before == 1, "nothing but the status read"


def test_a_project_without_a_cluster_says_so(dask_client_of):
    project = dask_client_of.create_project("dask-none")
    with pytest.raises(SaturnDaskClusterError, match=f"Project {project['id']} has no Dask cluster"):
        dask_client_of.get_dask_client(project_id=project["id"])


def test_an_unknown_cluster_is_a_404_naming_it(dask_client_of):
    with pytest.raises(SaturnNotFoundError, match=MISSING):
        dask_client_of.get_dask_client(MISSING)
    with pytest.raises(SaturnNotFoundError, match=MISSING):
        dask_client_of.dask_cluster_info(MISSING)


def test_a_wrong_token_is_said_to_be_wrong(emulator_dask):
    with (
        SaturnClient(url=emulator_dask.url, api_token="wrong-token", retry=FAST_RETRY) as client,
        pytest.raises(SaturnAuthError, match="token"),
    ):
        client.dask_client_tls("0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    "bad", [None, "", "../x", "a b", "a?b", "a/b"], ids=["none", "empty", "path", "space", "query", "slash"]
)
def test_bad_arguments_are_refused_before_any_request(emulator_dask, dask_client_of, bad):
    before = emulator_dask.config.stats.requests
    with pytest.raises(SaturnInvalidOptionError):
        dask_client_of.get_dask_client(bad) if bad is not None else dask_client_of.get_dask_client()
    with pytest.raises(SaturnInvalidOptionError):
        dask_client_of.get_dask_client("0123456789abcdef0123456789abcdef", timeout=0)
    with pytest.raises(SaturnInvalidOptionError, match="security"):
        dask_client_of.get_dask_client("0123456789abcdef0123456789abcdef", security=None)
    assert emulator_dask.config.stats.requests == before


def test_transient_failures_of_info_and_csr_are_retried(emulator_dask, dask_client_of):
    _, cluster_id = _running_cluster(dask_client_of, "dask-flaky")
    emulator_dask.set_faults(queue=["error", "drop"])
    assert dask_client_of.dask_cluster_info(cluster_id)["scheduler_address"].startswith("tls://")
    emulator_dask.set_faults(queue=["error"])
    tls = dask_client_of.dask_client_tls(cluster_id)
    assert "BEGIN CERTIFICATE" in tls.cert_pem
    emulator_dask.set_faults(error_rate=1.0)
    with pytest.raises(SaturnTransientError):
        dask_client_of.dask_client_tls(cluster_id)
    emulator_dask.set_faults()


def test_a_scheduler_that_does_not_answer_is_a_clear_error(emulator_dask, dask_client_of):
    _, cluster_id = _running_cluster(dask_client_of, "dask-frozen")
    pids = emulator_dask.dask.pids(cluster_id)
    for pid in pids:  # alive (Saturn still says running) but answering nothing
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(SaturnDaskClusterError, match=f"scheduler of Dask cluster {cluster_id} .* did not answer"):
            dask_client_of.get_dask_client(cluster_id, timeout=2)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_inside_saturn_it_uses_the_internal_address_without_a_certificate(emulator, client, monkeypatch):
    """As dask-saturn: SATURN_IS_INTERNAL=true and the client talking to SATURN_BASE_URL: no CSR, no TLS asked."""
    project = client.create_project("dask-inside")
    cluster = client.create_dask_cluster(project["id"], n_workers=1)
    client.start_dask_cluster(cluster["id"])
    _wait_running(client, cluster["id"])
    monkeypatch.setenv("SATURN_IS_INTERNAL", "true")
    monkeypatch.setenv("SATURN_BASE_URL", emulator.url + "/")
    info = client.dask_cluster_info(cluster["id"])
    security = client.dask_security(cluster["id"])
    assert security.require_encryption is False and security.tls_client_cert is None
    assert requests_to(emulator, "POST /api/dask_clusters/{id}/csr") == 0
    assert info["scheduler_address"] == client.get_dask_cluster(cluster["id"])["scheduler_url"]
    monkeypatch.setenv("SATURN_BASE_URL", "https://another-saturn.example.com")
    assert client.dask_cluster_info(cluster["id"])["scheduler_address"].startswith("tls://dask-"), "external again"
    assert client.dask_security(cluster["id"], external=True).require_encryption is True


@pytest.mark.parametrize(
    "address",
    ["tcp://10.0.0.1:8786", "tls://host", "tls://host:8786/x", "http://host:8786", "tls://ho st:1", None, 7],
)
def test_an_info_without_a_usable_tls_address_is_refused(address):
    from airflow_provider_saturn.client.dask_access import _checked_info
    from airflow_provider_saturn.client.errors import SaturnBadResponseError

    with pytest.raises(SaturnBadResponseError, match="0123"):
        _checked_info({"scheduler_address": address}, "0123", external=True)


def test_a_dashboard_link_that_is_not_http_is_dropped():
    from airflow_provider_saturn.client.dask_access import _checked_info

    for link in ("javascript:alert(1)", "https://d.example.com/\nforged", "x" * 600, 5):
        assert (
            _checked_info({"scheduler_address": "tls://h:1", "dashboard_link": link}, "c", True)["dashboard_link"]
            is None
        )
    assert (
        _checked_info({"scheduler_address": "tls://h:1", "dashboard_link": "https://d/s"}, "c", True)["dashboard_link"]
        == "https://d/s"
    )
