"""Adversarial review of the Dask client side (issue 16): hostile answers to ``/info`` and ``/csr``, where the
private key can go (logs, errors, XCom, temporary files), and what a connection leaves behind (threads, files).

Hostile answers come from ``tests/misbehaving_server.py``; connections go to the emulator's real Dask clusters."""

from __future__ import annotations

import datetime
import glob
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from airflow_provider_saturn.client import (
    SaturnClient,
    SaturnDaskClusterError,
    SaturnError,
)
from airflow_provider_saturn.client.dask_tls import MAX_CHAIN_CERTIFICATES, client_tls, signing_request
from airflow_provider_saturn.client.errors import SaturnBadResponseError
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import FAST_RETRY, TOKEN
from tests.dask.certificates import TestAuthority
from tests.misbehaving_server import Answer, Seen, misbehaving_server

CLUSTER = "0123456789abcdef0123456789abcdef"
RUNNING = {"id": CLUSTER, "status": "running", "workspace_id": "a" * 32}


@contextmanager
def _saturn_answering(respond: Callable[[Seen], Answer]) -> Iterator[SaturnClient]:
    with (
        misbehaving_server(respond) as server,
        SaturnClient(url=server.url, api_token=TOKEN, retry=FAST_RETRY, timeout=5) as client,
    ):
        yield client


def _info_answer(address: Any, link: Any = None) -> Callable[[Seen], Answer]:
    def respond(seen: Seen) -> Answer:
        if "/info" in seen.path:
            return Answer.json({"scheduler_address": address, "dashboard_link": link, "id": CLUSTER})
        return Answer.json(RUNNING)

    return respond


# ------------------------------------------------------------------ hostile /info answers


@pytest.mark.parametrize(
    "address",
    ["tls://127.0.0.1:99999", "tls://127.0.0.1:0", "tls://[::1]:0", "tls://10.0.0.1:65536"],
    ids=["port-99999", "port-0", "ipv6-port-0", "port-65536"],
)
def test_review_a_scheduler_port_that_cannot_exist_is_a_bad_answer(address):
    """A port outside 1-65535 is no scheduler: refused as Saturn's bad answer at once, not after waiting the
    whole connect timeout for a "scheduler that did not answer"."""
    with (
        _saturn_answering(_info_answer(address)) as client,
        pytest.raises(SaturnBadResponseError, match="scheduler_address"),
    ):
        client.dask_cluster_info(CLUSTER)


@pytest.mark.parametrize(
    "address",
    [
        "tls://127.0.0.1:8786\n",
        "tls://127.0.0.1:8786\r\nX-Evil: 1",
        "tls://user:pw@127.0.0.1:8786",
        "tls://127.0.0.1:8786/../x",
        "http://127.0.0.1:8786",
        "tls://" + "a" * 600 + ":8786",
        12345,
        None,
    ],
    ids=["newline", "crlf", "userinfo", "path", "http", "huge", "int", "none"],
)
def test_review_an_address_that_is_not_one_is_refused(address):
    with _saturn_answering(_info_answer(address)) as client, pytest.raises(SaturnBadResponseError) as caught:
        client.dask_cluster_info(CLUSTER)
    assert "\n" not in str(caught.value).split("(", 1)[0]


def test_review_an_external_client_refuses_a_plain_tcp_scheduler():
    with (
        _saturn_answering(_info_answer("tcp://127.0.0.1:8786")) as client,
        pytest.raises(SaturnBadResponseError, match="without TLS"),
    ):
        client.dask_cluster_info(CLUSTER, external=True)


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>",
        "https://x/\nInjected: line",
        "https://x/" + "a" * 600,
        {"href": "https://x"},
    ],
    ids=["javascript", "javascript-upper", "data", "newline", "huge", "object"],
)
def test_review_a_dashboard_link_that_is_not_a_web_link_is_dropped(link):
    with _saturn_answering(_info_answer("tls://127.0.0.1:8786", link)) as client:
        assert client.dask_cluster_info(CLUSTER)["dashboard_link"] is None


def test_review_an_html_proxy_page_for_info_is_a_bad_answer():
    page = Answer(headers={"Content-Type": "text/html"}, body=b"<html><body>Sign in</body></html>")
    with _saturn_answering(lambda seen: page) as client, pytest.raises(SaturnBadResponseError):
        client.dask_cluster_info(CLUSTER)


# ------------------------------------------------------------------ hostile /csr answers


def _csr_answer(answer: Callable[[Seen], Answer]) -> Callable[[Seen], Answer]:
    def respond(seen: Seen) -> Answer:
        if seen.path.endswith("/csr"):
            return answer(seen)
        return Answer.json(RUNNING)

    return respond


def test_review_a_redirect_of_the_csr_is_not_followed_and_the_csr_goes_nowhere_else():
    seen_paths: list[str] = []

    def respond(seen: Seen) -> Answer:
        seen_paths.append(seen.path)
        return Answer(status=307, reason="Temporary Redirect", headers={"Location": "http://127.0.0.1:9/steal"})

    with _saturn_answering(_csr_answer(respond)) as client, pytest.raises(SaturnError) as caught:
        client.dask_client_tls(CLUSTER)
    assert TOKEN not in str(caught.value)
    assert "CERTIFICATE REQUEST" not in str(caught.value)
    assert seen_paths == [f"/api/dask_clusters/{CLUSTER}/csr"], "sent once, to Saturn only"


def test_review_an_html_page_answering_the_csr_is_a_clear_bad_answer():
    page = Answer(headers={"Content-Type": "text/html"}, body=b"<html>proxy: log in at https://sso</html>")
    with (
        _saturn_answering(_csr_answer(lambda seen: page)) as client,
        pytest.raises(SaturnBadResponseError, match="0 PEM certificate"),
    ):
        client.dask_client_tls(CLUSTER)


def test_review_a_huge_csr_answer_is_cut_and_refused_without_being_kept():
    huge = Answer(headers={"Content-Type": "application/x-pem-file"}, body=b"A" * (40 * 1024 * 1024))
    with _saturn_answering(_csr_answer(lambda seen: huge)) as client:
        started = time.monotonic()
        with pytest.raises(SaturnBadResponseError) as caught:
            client.dask_client_tls(CLUSTER)
        assert time.monotonic() - started < 20
        assert len(str(caught.value)) < 2000


def test_review_an_error_answer_to_the_csr_never_echoes_the_csr_or_token():
    def respond(seen: Seen) -> Answer:  # a server that echoes what it was sent
        return Answer.json({"message": seen.body.decode() + seen.headers.get("authorization", "")}, status=400)

    with _saturn_answering(_csr_answer(respond)) as client, pytest.raises(SaturnError) as caught:
        client.dask_client_tls(CLUSTER)
    assert TOKEN not in str(caught.value)


def _chain_for(request_csr: bytes, authority: TestAuthority, **changes: Any) -> bytes:
    """A client certificate for the CSR's key signed by ``authority``, with ``changes`` (validity, usage), then
    the authority's own certificate."""
    return authority.sign(request_csr, **changes) + authority.pem()


def test_review_an_expired_client_certificate_is_refused_before_connecting():
    """Saturn answering an expired certificate: said at once, not a scheduler "that did not answer" after the
    whole connect timeout (the scheduler refuses the handshake, distributed retries until the timeout)."""
    authority, request = TestAuthority(), signing_request(CLUSTER)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    chain = _chain_for(request.csr_pem, authority, not_before=past, not_after=past + datetime.timedelta(days=1))
    with pytest.raises(SaturnBadResponseError, match=r"expired|not valid"):
        client_tls(request, chain, CLUSTER)


def test_review_a_client_certificate_for_server_use_only_is_refused_before_connecting():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    chain = _chain_for(request.csr_pem, authority, usages=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(SaturnBadResponseError, match="client"):
        client_tls(request, chain, CLUSTER)


def test_review_a_chain_whose_first_certificate_is_the_ca_is_refused():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    with pytest.raises(SaturnBadResponseError, match="another key"):
        client_tls(request, authority.pem() + authority.sign(request.csr_pem), CLUSTER)


def test_review_a_chain_longer_than_the_bound_is_refused():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    chain = authority.sign(request.csr_pem) + authority.pem() * MAX_CHAIN_CERTIFICATES
    with pytest.raises(SaturnBadResponseError, match="certificates"):
        client_tls(request, chain, CLUSTER)


def test_review_control_characters_around_the_pem_do_not_reach_the_files():
    authority, request = TestAuthority(), signing_request(CLUSTER)
    chain = b"\x1b[31m\x00" + authority.sign(request.csr_pem) + b"\x07junk\r\n" + authority.pem() + b"\x1b]0;x\x07"
    tls = client_tls(request, chain, CLUSTER)
    assert all(text.isascii() and "\x1b" not in text and "\x00" not in text for text in (tls.cert_pem, tls.ca_pem))


# ------------------------------------------------------------------ where the key can go


def test_review_the_client_key_cannot_be_serialized_into_an_xcom():
    """A task that returns what ``dask_client_tls`` gave (to hand it to the next task) must not put the private
    key in Airflow's XCom table: Airflow's serializer refuses the object instead of storing its fields."""
    try:
        from airflow.sdk.serde import serialize
    except ImportError:  # Airflow 2.11
        from airflow.serialization.serde import serialize

    authority, request = TestAuthority(), signing_request(CLUSTER)
    tls = client_tls(request, authority.sign(request.csr_pem) + authority.pem(), CLUSTER)
    try:
        stored = serialize(tls)
    except (TypeError, ValueError, AttributeError):
        return
    assert "PRIVATE KEY" not in str(stored), "the private key would be stored as an XCom"


def test_review_the_client_key_is_not_pickled():
    import pickle

    authority, request = TestAuthority(), signing_request(CLUSTER)
    tls = client_tls(request, authority.sign(request.csr_pem) + authority.pem(), CLUSTER)
    with pytest.raises((TypeError, pickle.PicklingError)):
        pickle.dumps(tls)


# ------------------------------------------------------------------ against the emulator's real clusters


@pytest.fixture
def saturn(emulator_dask: SaturnEmulator) -> Iterator[SaturnClient]:
    with SaturnClient(url=emulator_dask.url, api_token=TOKEN, retry=FAST_RETRY, timeout=10) as client:
        yield client


def _running_cluster(client: SaturnClient, name: str) -> str:
    project = client.create_project(name)
    cluster = client.create_dask_cluster(project["id"], n_workers=1, nthreads=1)
    client.start_dask_cluster(cluster["id"])
    deadline = time.monotonic() + 60
    while client.get_dask_cluster(cluster["id"])["status"] != "running":
        assert time.monotonic() < deadline, "the cluster did not start"
        time.sleep(0.1)
    return str(cluster["id"])


def _io_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name == "IO loop"]


def _settled_io_threads(expected: int, limit: float = 5.0) -> list[str]:
    deadline = time.monotonic() + limit
    while len(_io_threads()) > expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return _io_threads()


def _key_files() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "*", "dask.pem"))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_review_clients_opened_and_closed_leave_no_thread_file_or_key(saturn):
    cluster_id = _running_cluster(saturn, "review-leaks")
    with saturn.get_dask_client(cluster_id, timeout=20) as warm:  # distributed's one-time set-up
        assert warm.submit(sum, [1, 2]).result(timeout=20) == 3
    threads, fds, keys = len(_settled_io_threads(0)), _open_fds(), _key_files()
    for _ in range(3):
        with saturn.get_dask_client(cluster_id, timeout=20) as dask:
            assert dask.submit(sum, [1, 2, 3]).result(timeout=20) == 6
    assert len(_settled_io_threads(threads)) == threads
    assert _open_fds() <= fds + 2
    assert _key_files() == keys, "no key left in a temporary directory"


def test_review_a_scheduler_that_does_not_answer_leaves_no_io_loop_thread(saturn, emulator_dask):
    """A failed connection (scheduler frozen) must not leave distributed's IO-loop thread running behind it: a
    long-lived process (a DAG test, a scheduler-side script, retries in one process) gains one per failure."""
    import signal

    cluster_id = _running_cluster(saturn, "review-frozen")
    before = len(_settled_io_threads(0))
    pids = emulator_dask.dask.pids(cluster_id)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(2):
            with pytest.raises(SaturnDaskClusterError, match="did not answer"):
                saturn.get_dask_client(cluster_id, timeout=1)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert len(_settled_io_threads(before)) == before, "an IO loop thread is left per failed connection"


def test_review_a_refused_connection_leaves_no_default_client(saturn, emulator_dask):
    """After a failed connection, ``distributed`` has no default client left pointing at the dead scheduler."""
    import signal

    import distributed

    cluster_id = _running_cluster(saturn, "review-default")
    pids = emulator_dask.dask.pids(cluster_id)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(SaturnDaskClusterError):
            saturn.get_dask_client(cluster_id, timeout=1)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    with pytest.raises(ValueError, match="No clients found"):
        distributed.default_client()


def test_review_the_key_is_in_no_log_line_even_at_debug(saturn, caplog):
    cluster_id = _running_cluster(saturn, "review-debug-log")
    caplog.set_level(logging.DEBUG)
    for name in ("distributed", "urllib3", "airflow_provider_saturn", "asyncio", "tornado"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        tls = saturn.dask_client_tls(cluster_id)
        with saturn.get_dask_client(cluster_id, timeout=20) as dask:
            dask.submit(sum, [1]).result(timeout=20)
            shown = repr(dask) + str(dask) + repr(dask.security) + str(dask.scheduler_info())
    finally:
        for name in ("distributed", "urllib3", "airflow_provider_saturn", "asyncio", "tornado"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert "PRIVATE KEY" not in caplog.text and "PRIVATE KEY" not in shown
    assert tls.key_pem.splitlines()[3] not in caplog.text
    assert "PRIVATE" not in repr(tls) and "PRIVATE" not in str(tls)


def test_review_an_empty_200_answer_to_info_or_csr_is_a_bad_answer():
    empty = Answer(headers={"Content-Type": "application/json"}, body=b"")
    with (
        _saturn_answering(lambda seen: empty if "/info" in seen.path else Answer.json(RUNNING)) as client,
        pytest.raises(SaturnBadResponseError, match="empty"),
    ):
        client.dask_cluster_info(CLUSTER)
    with (
        _saturn_answering(_csr_answer(lambda seen: empty)) as client,
        pytest.raises(SaturnBadResponseError, match="0 PEM certificate"),
    ):
        client.dask_client_tls(CLUSTER)


def test_review_a_redirect_of_the_info_is_not_followed():
    seen_paths: list[str] = []

    def respond(seen: Seen) -> Answer:
        seen_paths.append(seen.path)
        return Answer(status=302, reason="Found", headers={"Location": "http://127.0.0.1:9/elsewhere"})

    with _saturn_answering(respond) as client, pytest.raises(SaturnError) as caught:
        client.dask_cluster_info(CLUSTER)
    assert "redirect" in str(caught.value).lower() and TOKEN not in str(caught.value)
    assert seen_paths == [f"/api/dask_clusters/{CLUSTER}/info?is_external=true"], "asked once, of Saturn only"
