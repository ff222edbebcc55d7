"""The findings of an adversarial review of the client, one section each: each test failed before its fix.

Answer size (1), the sync deadline over connection set-up (2), ``.netrc`` (3), text that cannot be encoded (4),
the async pools (5, 6, 7), one attempt's deadline and another's connection (8), retry waits and the total
time (9), ids (10, 11: see also ``test_hostile_ids``), and the watchdog's memory (12).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import os
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from urllib3.connectionpool import HTTPConnectionPool

from airflow_provider_saturn.client import AsyncSaturnClient, RetryPolicy, SaturnClient
from airflow_provider_saturn.client import async_client as async_module
from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
from airflow_provider_saturn.client.deadline import WATCHDOG, AttemptDeadline
from airflow_provider_saturn.client.defaults import MAX_ANSWER_BYTES
from airflow_provider_saturn.client.errors import (
    SaturnBadResponseError,
    SaturnConfigError,
    SaturnInvalidIdError,
    SaturnInvalidOptionError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.paths import path_segment
from airflow_provider_saturn.client.responses import AnswerBody, RequestTarget
from tests.misbehaving_server import Answer, elapsed, keep_alive_server, misbehaving_server

TOKEN = "review-token-7d3e9a1c"
ID = "a" * 32
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
MiB = 1 << 20


def sync_client(url: str, *, timeout: float = 2.0, retry: RetryPolicy = ONE_ATTEMPT) -> SaturnClient:
    return SaturnClient(url=url, api_token=TOKEN, timeout=timeout, retry=retry)


def async_client(url: str, *, timeout: float = 2.0, **kwargs: Any) -> AsyncSaturnClient:
    return AsyncSaturnClient(resolve_credentials(url, TOKEN), timeout=timeout, retry=ONE_ATTEMPT, **kwargs)


def read_once(kind: str, url: str, *, max_answer_bytes: int | None = None) -> Any:
    """A Dask cluster read by the ``kind`` (``"sync"`` or ``"async"``) client: its result or the error raised."""
    if kind == "sync":
        with sync_client(url) as client:
            if max_answer_bytes is not None:
                client.max_answer_bytes = max_answer_bytes
            return elapsed(lambda: client.get_dask_cluster(ID))[1]

    async def read() -> Any:
        client = async_client(url)
        if max_answer_bytes is not None:
            client.max_answer_bytes = max_answer_bytes
        try:
            return await client.get_resource("dask_cluster", ID)
        finally:
            await client.aclose()

    return elapsed(lambda: asyncio.run(read()))[1]


def measured(call: Callable[[], Any]) -> tuple[float, int, Any]:
    """Seconds taken, peak of Python memory allocated meanwhile (bytes), and the result or error of ``call``."""
    gc.collect()
    tracemalloc.start()
    try:
        took, result = elapsed(call)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return took, peak, result


# ------------------------------------------------------------------ 1. answer size


def big_json(size: int) -> bytes:
    """A JSON Dask cluster padded to ``size`` bytes: a fine answer, but for its size."""
    head, tail = b'{"id": "' + ID.encode() + b'", "status": "running", "pad": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def gzipped(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.fixture(scope="module")
def big_answers() -> dict[str, Answer]:
    """64 MiB answers: with and without a Content-Length, and as 64 KiB of gzip."""
    body = big_json(64 * MiB)
    return {
        "plain": Answer(body=body),
        "plain without length": Answer(body=body, content_length=-1),
        "gzip": Answer(headers=GZIP, body=gzipped(body)),
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("answer", ["plain", "plain without length", "gzip"])
def test_an_answer_past_the_size_limit_is_refused_fast_in_little_memory(
    big_answers: dict[str, Answer], kind: str, answer: str
) -> None:
    with misbehaving_server() as server:
        server.answer_always(big_answers[answer])
        took, peak, result = measured(lambda: read_once(kind, server.url, max_answer_bytes=MiB))
    assert isinstance(result, SaturnBadResponseError), repr(result)
    assert isinstance(result, SaturnTransientError)
    assert "larger than the client's limit of 1 MiB (decoded)" in str(result)
    assert took < 3, f"{took:.1f}s"
    assert peak < 8 * MiB, f"{peak / MiB:.0f} MiB for a 64 MiB answer read up to 1 MiB"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_gzip_bomb_stays_far_below_its_size_under_the_default_limit(kind: str) -> None:
    bomb = gzipped(big_json(256 * MiB))  # about 250 KiB on the wire
    with misbehaving_server() as server:
        server.answer_always(Answer(headers=GZIP, body=bomb))
        took, peak, result = measured(lambda: read_once(kind, server.url))
    assert isinstance(result, SaturnBadResponseError), repr(result)
    assert f"limit of {MAX_ANSWER_BYTES // MiB} MiB" in str(result)
    assert peak < MAX_ANSWER_BYTES + 16 * MiB, f"{peak / MiB:.0f} MiB for a 256 MiB answer"
    assert took < 10


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_page_of_1000_log_lines_or_workspaces_fits_comfortably(kind: str) -> None:
    lines = [{"timestamp": "2026-01-01T00:00:00Z", "message": "x" * 1000} for _ in range(1000)]
    workspaces = [{"id": f"{index:032x}", "name": "w", "settings": "s" * 4000} for index in range(1000)]
    for page in ({"id": ID, "logs": lines}, {"id": ID, "workspaces": workspaces}):
        body = json.dumps(page).encode()
        assert 4 * len(body) < MAX_ANSWER_BYTES, "room to spare"
        for answer in (Answer(body=body), Answer(headers=GZIP, body=gzip.compress(body))):
            with misbehaving_server() as server:
                server.answer_always(answer)
                result = read_once(kind, server.url)
            assert isinstance(result, dict), repr(result)


LIMITS_IN_TURN = (MiB, 10, MiB, MiB)  # read, refused before its body is read (it is over 10 bytes), read, read


def test_a_connection_goes_back_to_the_pool_only_when_its_answer_was_read_to_the_end() -> None:
    async def read_in_turn() -> None:
        client = async_client(server.url, max_connections=1)
        try:
            for limit in LIMITS_IN_TURN:
                client.max_answer_bytes = limit
                with contextlib.suppress(SaturnBadResponseError):
                    await client.get_resource("dask_cluster", ID)
        finally:
            await client.aclose()

    with keep_alive_server() as server:
        with sync_client(server.url) as client:
            for limit in LIMITS_IN_TURN:
                client.max_answer_bytes = limit
                elapsed(client.get_status)
        assert len(server.seen_paths) == 4
        assert len(server.connections) == 2, "the refused answer's connection was closed, the others reused"
        server.connections.clear()
        asyncio.run(read_in_turn())
        assert len(server.connections) == 2


@pytest.mark.parametrize("piece", [1, 2, 7, 4096])
def test_the_body_reader_decodes_gzip_members_and_both_deflates_in_any_pieces(piece: int) -> None:
    data = json.dumps({"id": ID, "items": list(range(2000))}).encode()
    encodings = {
        "gzip": ("gzip", gzip.compress(data)),
        "two gzip members": ("gzip", gzip.compress(data[:3000]) + gzip.compress(data[3000:])),
        "gzip with trailing bytes": ("x-gzip", gzip.compress(data) + b"\x00\x00"),
        "deflate (zlib)": ("deflate", zlib.compress(data)),
        "deflate (raw)": ("Deflate", zlib.compress(data)[2:-4]),
        "a long run": ("gzip", gzip.compress(b"a" * (3 * MiB))),
    }
    for name, (coding, raw) in encodings.items():
        body = AnswerBody(RequestTarget("GET", "x"), 4 * MiB, content_encoding=coding)
        for start in range(0, len(raw), piece):
            body.add(raw[start : start + piece])
        assert body.content() == (b"a" * (3 * MiB) if name == "a long run" else data), name


def test_a_body_that_does_not_decode_is_a_bad_response() -> None:
    body = AnswerBody(RequestTarget("GET", "x"), MiB, status_code=200, content_encoding="gzip")
    with pytest.raises(SaturnBadResponseError, match="cannot be decoded"):
        body.add(b"\x1f\x8bnot gzip at all")


# ------------------------------------------------------------------ 2. connection set-up within the deadline


def test_a_proxy_dripping_its_connect_answer_is_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    slow_tunnel = Answer(status=200, reason="Connection established", headers={"X-Pad": "a" * 200})
    slow_tunnel.drip_seconds, slow_tunnel.drip_headers = 0.05, True  # ~12 s for the whole head
    with misbehaving_server() as proxy:
        proxy.answer_always(slow_tunnel)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with sync_client("https://saturn.invalid", timeout=1.0) as client:
            took, result = elapsed(client.get_status)
        assert [seen.method for seen in proxy.requests] == ["CONNECT"]
    assert isinstance(result, SaturnTransientError), repr(result)
    assert "within the request timeout of 1s" in str(result)
    assert took < 1.8, f"{took:.1f}s"


def test_the_tls_handshake_gets_only_what_is_left_of_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow name lookup cannot be cut; the TLS handshake after it (with a server that never answers it) gets
    what is left of the deadline, not a timeout of its own."""
    real_getaddrinfo = socket.getaddrinfo

    def slow_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.invalid":
            time.sleep(0.6)
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    # The server reads a request that never ends (a ClientHello has no blank line), and never answers.
    with misbehaving_server() as silent, sync_client(f"https://slow.invalid:{silent.port}", timeout=1.0) as client:
        took, result = elapsed(client.get_status)
    assert isinstance(result, SaturnTransientError), repr(result)
    assert took < 1.4, f"{took:.1f}s: the handshake had its own full timeout after the lookup"


# ------------------------------------------------------------------ 3. .netrc


@pytest.fixture
def netrc_for_localhost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\nlogin someone\npassword netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


@pytest.mark.usefixtures("netrc_for_localhost")
def test_a_netrc_entry_never_replaces_the_token() -> None:
    with misbehaving_server() as server:
        server.answer_always(Answer.json({"status": "ok"}))
        with sync_client(server.url) as client:
            client.get_status()
        assert read_once("async", server.url) is not None
        assert [seen.headers["authorization"] for seen in server.requests] == [f"token {TOKEN}"] * 2


@pytest.mark.usefixtures("netrc_for_localhost")
def test_proxies_from_the_environment_still_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    with misbehaving_server() as proxy:
        proxy.answer_always(Answer.json({"status": "ok"}))
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with sync_client("http://saturn.invalid") as client:
            assert client.get_status() == {"status": "ok"}
        [seen] = proxy.requests
        assert seen.path == "http://saturn.invalid/api/status", "sent to the proxy, for saturn.invalid"
        assert seen.headers["authorization"] == f"token {TOKEN}"
        assert repr(client._session.auth) == "TokenAuth('***')"


# ------------------------------------------------------------------ 4. text that cannot be encoded


@pytest.mark.parametrize("token", [f"{TOKEN}\u2019", f"\u201c{TOKEN}\u201d", f"{TOKEN}\u2013x", f"t\u00f6{TOKEN}"])
def test_a_token_with_non_ascii_characters_is_refused_without_showing_it(token: str) -> None:
    for build in (
        lambda: SaturnClient(url="https://saturn.example.com", api_token=token),
        lambda: resolve_credentials("https://saturn.example.com", token),
    ):
        with pytest.raises(SaturnConfigError, match="not ASCII") as caught:
            build()
        assert TOKEN not in str(caught.value)


def test_a_page_key_that_cannot_be_sent_back_is_a_bad_response() -> None:
    with misbehaving_server() as server:
        server.answer_always(Answer(body=b'{"workspaces": [], "next_key": "\\ud800"}'))
        with sync_client(server.url) as client, pytest.raises(SaturnBadResponseError, match="next_key cannot be"):
            client.list_projects()


def test_a_name_that_cannot_be_encoded_is_refused_and_not_retried() -> None:
    with misbehaving_server() as server:
        client = sync_client(server.url, retry=RetryPolicy(max_attempts=3, initial_wait=0))
        with client, pytest.raises(SaturnInvalidOptionError, match="cannot be sent") as caught:
            client.find_project_by_name("broken \ud800 name")
        assert not isinstance(caught.value, SaturnTransientError)
        assert server.requests == [], "nothing was sent"


@pytest.mark.parametrize("where", ["params", "json"])
def test_the_async_client_refuses_text_that_cannot_be_encoded(where: str) -> None:
    unsendable: dict[str, Any] = {where: {"name": "\ud800"}}

    async def send() -> Any:
        client = async_client(server.url)
        try:
            return await client._request("POST", "api/x", "thing", "id", **unsendable)
        finally:
            await client.aclose()

    with misbehaving_server() as server:
        with pytest.raises(SaturnInvalidOptionError, match="cannot be sent"):
            asyncio.run(send())
        assert server.requests == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://xn--:8080", "no valid IDNA name"),
        ("https://xn--a.example.com", "no valid IDNA name"),
        ("http://127.0.0.1:0", "port 0"),
        ("https://saturn.example.com/a%zz", "'%' that does not start an escape"),
        ("https://saturn.example.com/a%2", "'%' that does not start an escape"),
    ],
)
def test_urls_the_http_libraries_would_refuse_or_read_differently_are_refused(url: str, problem: str) -> None:
    with pytest.raises(SaturnConfigError, match=problem):
        resolve_credentials(url, TOKEN)
    assert (
        resolve_credentials("https://xn--bcher-kva.example/a%2Fb", TOKEN).url == "https://xn--bcher-kva.example/a%2Fb"
    )


def test_the_async_client_turns_an_idna_failure_into_a_configuration_error() -> None:
    credentials = SaturnCredentials(url="http://xn--a:8080", token=TOKEN)  # past normalise_url's checks

    async def read() -> Any:
        client = AsyncSaturnClient(credentials, timeout=1, retry=ONE_ATTEMPT)
        try:
            return await client.get_resource("dask_cluster", ID)
        finally:
            await client.aclose()

    with pytest.raises(SaturnConfigError, match="could not be made"):
        asyncio.run(read())


# ------------------------------------------------------------------ 5. waiting for a pool slot is not timed


def test_waiting_for_a_free_pooled_connection_does_not_count_against_the_timeout() -> None:
    """16 slow reads (0.8 s each, timeout 1.2 s) and some fast ones, never more than 17 at once under
    ``max_connections=32``: none may time out. (Handed round-robin to 4 pools of 8, the slow reads all
    landed in one pool, and half of them waited there inside their timeout.)"""

    async def run() -> list[Any]:
        client = AsyncSaturnClient(
            resolve_credentials(server.url, TOKEN), timeout=1.2, retry=ONE_ATTEMPT, max_connections=32
        )
        slow_reads = []
        try:
            for _ in range(16):
                slow_reads.append(asyncio.ensure_future(client.get_resource("dask_cluster", "slow")))
                for _ in range(3):
                    await client.get_resource("dask_cluster", "fast")
            return await asyncio.gather(*slow_reads, return_exceptions=True)
        finally:
            await client.aclose()

    with keep_alive_server({"slow": 0.8}) as server:
        results = asyncio.run(run())
    failures = [str(result) for result in results if isinstance(result, BaseException)]
    assert failures == [], failures[:2]


# ------------------------------------------------------------------ 6. shared clients and event loops


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open file descriptors through /proc")
def test_shared_clients_of_closed_event_loops_are_let_go() -> None:
    async def poll(credentials: SaturnCredentials) -> None:
        client = async_module.shared_async_client(credentials, timeout=5)
        await asyncio.gather(*(client.get_resource("dask_cluster", ID) for _ in range(8)))

    with keep_alive_server({ID: 0.05}) as server:
        credentials = resolve_credentials(server.url, TOKEN)
        asyncio.run(poll(credentials))
        gc.collect()
        before = open_descriptors()
        for _ in range(20):
            asyncio.run(poll(credentials))
        gc.collect()
        assert len(async_module._SHARED) <= 1, "only the last loop's clients, until the next call"
        assert open_descriptors() - before < 10, "the connections of closed loops are closed"


def test_a_loop_keeps_a_bounded_number_of_shared_clients_and_closes_the_others() -> None:
    limit = async_module.MAX_SHARED_CLIENTS_PER_LOOP

    async def rotate_tokens() -> tuple[int, list[AsyncSaturnClient], AsyncSaturnClient]:
        clients = [
            async_module.shared_async_client(resolve_credentials(server.url, f"{TOKEN}-{index}"))
            for index in range(limit + 4)
        ]
        for _ in range(20):  # let the closes run
            await asyncio.sleep(0)
        first = clients[0]
        answer = await first.get_resource("dask_cluster", ID)  # one let go of still works: it opens anew
        assert answer["id"] == "a" * 32
        await first.aclose()
        return len(async_module._SHARED[asyncio.get_running_loop()]), clients, first

    with keep_alive_server() as server:
        table_size, clients, _ = asyncio.run(rotate_tokens())
    assert table_size == limit
    for evicted in clients[1:4]:
        assert evicted._pools == [], "the least recently used were closed"
    assert all(client._pools for client in clients[4:]), "the others kept their pools"


# ------------------------------------------------------------------ 7. one event loop per client


def test_an_async_client_refuses_a_second_event_loop() -> None:
    with keep_alive_server() as server:
        client = async_client(server.url)
        assert asyncio.run(client.get_resource("dask_cluster", ID))["id"] == "a" * 32
        with pytest.raises(SaturnConfigError, match="first used in \\(closed now\\)"):
            asyncio.run(client.get_resource("dask_cluster", ID))
        asyncio.run(client.aclose())  # its loop is closed: its connections are only let go of

        other = async_client(server.url)
        started, release = threading.Event(), threading.Event()

        async def hold_a_loop() -> None:
            await other.get_resource("dask_cluster", ID)
            started.set()
            await asyncio.to_thread(release.wait, 5)
            await other.aclose()

        thread = threading.Thread(target=lambda: asyncio.run(hold_a_loop()))
        thread.start()
        try:
            assert started.wait(5)
            with pytest.raises(SaturnConfigError, match="still running"):
                asyncio.run(other.get_resource("dask_cluster", ID))
        finally:
            release.set()
            thread.join(5)


@pytest.mark.parametrize("max_connections", [0, -1, True, 1.5, "8"])
def test_max_connections_must_be_a_whole_number_of_at_least_one(max_connections: Any) -> None:
    with pytest.raises(ValueError, match="max_connections must be a whole number of at least 1"):
        AsyncSaturnClient(resolve_credentials("http://127.0.0.1:9", TOKEN), max_connections=max_connections)


def test_one_connection_is_enough() -> None:
    async def read_many() -> list[Any]:
        client = async_client(server.url, max_connections=1)
        try:
            return await asyncio.gather(*(client.get_resource("dask_cluster", ID) for _ in range(5)))
        finally:
            await client.aclose()

    with keep_alive_server() as server:
        assert len(asyncio.run(asyncio.wait_for(read_many(), 10))) == 5


# ------------------------------------------------------------------ 8. one attempt's deadline, another's socket


def test_a_deadline_never_cuts_a_connection_another_attempt_took_from_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attempt A (timeout 0.3 s) puts its connection back, then stalls past its deadline before it ends;
    meanwhile B takes that connection for an answer that takes 0.6 s (B's timeout: 2 s)."""
    a_released, b_done = threading.Event(), threading.Event()
    a_thread = threading.current_thread()
    put_conn = HTTPConnectionPool._put_conn

    def stall_after_a_puts_back(pool: HTTPConnectionPool, conn: Any) -> None:
        put_conn(pool, conn)
        if threading.current_thread() is a_thread and not a_released.is_set():
            a_released.set()
            b_done.wait(3)  # A, its body read, has not finished its attempt

    monkeypatch.setattr(HTTPConnectionPool, "_put_conn", stall_after_a_puts_back)
    b_result: list[Any] = []

    def run_b() -> None:
        try:
            assert a_released.wait(3)
            client.timeout = 2.0  # for B's attempt; A's deadline (0.3 s) is armed already
            b_result.append(elapsed(lambda: client.get_dask_cluster("b-slow"))[1])
        finally:
            b_done.set()

    with keep_alive_server({"b-slow": 0.6}) as server, sync_client(server.url, timeout=0.3) as client:
        b = threading.Thread(target=run_b)
        b.start()
        assert client.get_dask_cluster("a-fast")["id"] == "a" * 32
        b.join(5)
    assert isinstance(b_result[0], dict), f"A's deadline cut B's exchange: {b_result[0]!r}"


# ------------------------------------------------------------------ 9. retry waits within max_total_seconds


def test_a_retry_after_longer_than_the_time_left_is_cut_to_it() -> None:
    policy = RetryPolicy(max_attempts=10, max_total_seconds=1, initial_wait=0.01, max_wait=5)
    with misbehaving_server() as server:
        server.answer_always(Answer(status=503, headers={"Retry-After": "5"}))
        with sync_client(server.url, retry=policy) as client:
            took, result = elapsed(client.get_status)
    assert isinstance(result, SaturnTransientError) and result.status_code == 503
    assert took < 2.5, f"{took:.1f}s under max_total_seconds=1"


def test_no_backoff_runs_past_the_time_left() -> None:
    wait = RetryPolicy(max_total_seconds=10, initial_wait=4, max_wait=30).tenacity_kwargs()["wait"]

    class State:
        attempt_number = 3
        seconds_since_start = 9.5
        outcome = None

    assert wait(State()) == pytest.approx(0.5)
    State.seconds_since_start = 12
    assert wait(State()) == 0


# ------------------------------------------------------------------ 10, 11. ids (more in test_hostile_ids)


class SneakyId(str):
    """A str whose iteration, comparison and encoding lie about what it holds."""

    def __iter__(self) -> Iterator[str]:
        return iter("ok")

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__

    def __len__(self) -> int:
        return 2

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        return b"../../admin"


@pytest.mark.parametrize("raw", ["..", ".", "a/b", "None", ""])
def test_a_str_subclass_is_checked_for_what_it_holds(raw: str) -> None:
    with pytest.raises(SaturnInvalidIdError):
        path_segment(SneakyId(raw), "x")


def test_a_str_subclass_goes_out_as_the_plain_string_it_holds() -> None:
    segment = path_segment(SneakyId("abc"), "x")
    assert segment == "abc" and type(segment) is str


@pytest.mark.parametrize(
    "look_alike", ["a\uff0fb", "\uff0e\uff0e", "\u2024\u2024", "a\uff1fb", "a\u2215b", "a\uff3cb", ".\u0307"]
)
def test_look_alikes_of_separators_and_dots_are_refused(look_alike: str) -> None:
    with pytest.raises(SaturnInvalidIdError, match="Saturn ids are hex and run names Kubernetes names"):
        path_segment(look_alike, "x")


# ------------------------------------------------------------------ 12. the watchdog holds no finished attempt


def test_finished_attempts_leave_nothing_in_the_watchdog() -> None:
    # Deadlines of earlier tests' threads that are still finishing (a loaded machine) are not this test's. The
    # type is compared, not isinstance(): a lazy proxy among the objects (Airflow's serializers) would load.
    gc.collect()
    earlier = {id(obj) for obj in gc.get_objects() if type(obj) is AttemptDeadline}
    with keep_alive_server() as server, sync_client(server.url, timeout=3600) as client:
        for _ in range(600):
            client.get_dask_cluster(ID)
    gc.collect()
    assert [obj for obj in gc.get_objects() if type(obj) is AttemptDeadline and id(obj) not in earlier] == []
    assert WATCHDOG.pending() < 600, "cancelled alarms are dropped from the heap"
