"""Real-Dask mode, one running cluster shared by this module: a client whose certificate the emulator's ``/csr``
signed computes on the real scheduler over mutual TLS; every other client is refused by the scheduler itself."""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_saturn.emulator import SaturnEmulator
from tests.emulator.dask_support import Api, client_credentials, security, signed_client
from tests.emulator.processes import wait_for

distributed = pytest.importorskip("distributed")

REFUSED = (OSError, TimeoutError)
"""What ``distributed.Client`` raises when the scheduler will not talk to it."""


@pytest.fixture(scope="module")
def cluster(emulator_dask_server: SaturnEmulator) -> Iterator[tuple[Api, str, dict[str, Any]]]:
    """A 2-worker real cluster for the module (the tests here only read it); ended and checked after."""
    api = Api(emulator_dask_server.url)
    cluster_id = api.new_cluster("shared-dask", n_workers=2, nthreads=1)
    info = api.started(cluster_id)
    yield api, cluster_id, info
    api("POST", f"/api/dask_clusters/{cluster_id}/stop")
    api.wait_status(cluster_id, "stopped", timeout=20)
    with emulator_dask_server.state.lock:
        assert emulator_dask_server.dask is not None
        assert emulator_dask_server.dask.pids(cluster_id) == []


def _client(address: str, sec: Any, timeout: float = 10) -> Any:
    return distributed.Client(address, security=sec, timeout=timeout, set_as_default=False)


def test_info_names_the_real_tls_scheduler_and_its_dashboard(cluster) -> None:
    api, cluster_id, info = cluster
    assert info["id"] == cluster_id
    assert info["scheduler_address"].startswith("tls://127.0.0.1:")
    assert info["dashboard_link"].startswith("http://127.0.0.1:")
    assert requests.get(info["dashboard_link"].replace("/status", "/health"), timeout=5).text == "ok"
    internal = api("GET", f"/api/dask_clusters/{cluster_id}/info").json()
    assert internal["scheduler_address"] == info["scheduler_address"]  # one listener: TLS from anywhere


def test_a_client_with_a_certificate_from_csr_computes(cluster) -> None:
    import dask.bag

    api, cluster_id, info = cluster
    with signed_client(api, cluster_id, info["scheduler_address"]) as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
        squares = dask.bag.from_sequence(range(100), npartitions=8).map(lambda x: x * x).sum()
        assert client.compute(squares).result(timeout=30) == sum(x * x for x in range(100))
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert all(address.startswith("tls://127.0.0.1:") for address in workers)


def test_a_self_signed_client_certificate_is_refused(cluster) -> None:
    from distributed.security import Security

    api, cluster_id, info = cluster
    _, _, authority = client_credentials(api, cluster_id)
    own = Security.temporary()  # a key and a self-signed certificate of its own
    refused = security(own.tls_client_key, own.tls_client_cert, authority)  # trusts the scheduler, not trusted
    with pytest.raises(REFUSED):
        _client(info["scheduler_address"], refused, timeout=3)


def test_a_certificate_from_another_clusters_ca_is_refused(cluster, emulator_dask_server) -> None:
    api, cluster_id, info = cluster
    other = api.new_cluster("other-dask", n_workers=0)
    api.started(other)
    try:
        key, foreign_certificate, _ = client_credentials(api, other)
        _, _, authority = client_credentials(api, cluster_id)
        with pytest.raises(REFUSED):
            _client(info["scheduler_address"], security(key, foreign_certificate, authority), timeout=3)
    finally:
        api("POST", f"/api/dask_clusters/{other}/stop")
        api.wait_status(other, "stopped", timeout=20)


def _first_byte(address: str, authority: str, key: str = "", certificate: str = "") -> bytes:
    """Shake hands over TLS with the scheduler (trusting the cluster's CA), then read: the server's first byte."""
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=authority)
    context.check_hostname = False
    if certificate:
        with tempfile.TemporaryDirectory() as directory:
            paths = Path(directory, "cert.pem"), Path(directory, "key.pem")
            paths[0].write_text(certificate)
            paths[1].write_text(key)
            context.load_cert_chain(*paths)
    with socket.create_connection((host, int(port)), timeout=2) as raw, context.wrap_socket(raw) as tls:
        return tls.recv(1)


def test_a_client_without_a_certificate_is_refused(cluster) -> None:
    api, cluster_id, info = cluster
    _, _, authority = client_credentials(api, cluster_id)
    key, certificate, _ = client_credentials(api, cluster_id)
    address = info["scheduler_address"]
    with pytest.raises((ssl.SSLError, ConnectionError)):  # the scheduler ends the handshake it did not like
        _first_byte(address, authority)
    assert _first_byte(address, authority, key, certificate)  # the control: with one, the scheduler talks
    with pytest.raises(REFUSED):  # nor in the clear
        distributed.Client(info["scheduler_address"].replace("tls://", "tcp://"), timeout=3, set_as_default=False)


def test_its_processes_listen_on_loopback_only(cluster, emulator_dask_server) -> None:
    import psutil

    _, cluster_id, _ = cluster
    with emulator_dask_server.state.lock:
        pids = emulator_dask_server.dask.pids(cluster_id)
    assert len(pids) == 3
    listening = wait_for(
        lambda: [
            connection.laddr
            for pid in pids
            for connection in psutil.Process(pid).net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        ],
        what="listening sockets",
    )
    assert len(listening) >= 4  # the scheduler's TLS and HTTP ports, each worker's TLS port at least
    assert {address.ip for address in listening} == {"127.0.0.1"}
