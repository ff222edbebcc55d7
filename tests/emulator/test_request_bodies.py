"""Request bodies: read before the state lock is taken, and capped at ``MAX_BODY_BYTES`` with a 413.

Raw sockets stand in for clients that no library would imitate: one that dribbles its body, one that
announces more than the cap, one that streams a chunked body past the cap.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_saturn.emulator.app import MAX_BODY_BYTES
from tests.conftest import TOKEN

SOCKET_TIMEOUT = 10.0
DRIBBLE_SECONDS = 3.0


@pytest.fixture
def raw_connection(emulator) -> Iterator[socket.socket]:
    """A bare TCP connection to the emulator, closed after the test."""
    with socket.create_connection((emulator.host, emulator.port), timeout=SOCKET_TIMEOUT) as sock:
        yield sock


def _request_head(method: str, path: str, **headers: str | int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: emulator", f"Authorization: token {TOKEN}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    """Status code and JSON body of the one response on ``sock`` (bounded by the socket's timeout)."""
    status, _, body = _read_full_response(sock)
    return status, body


def _read_full_response(sock: socket.socket) -> tuple[int, http.client.HTTPMessage, dict]:
    """Status code, headers and JSON body of the one response on ``sock``."""
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        return response.status, response.headers, json.loads(response.read() or b"{}")
    finally:
        response.close()


def _dribble(sock: socket.socket, body: bytes, seconds: float) -> None:
    """Send ``body`` a byte at a time, spread over ``seconds``."""
    pause = seconds / len(body)
    for byte in body:
        sock.sendall(bytes([byte]))
        time.sleep(pause)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _workspace_body_of_size(name: str, size: int) -> bytes:
    """A valid workspace create of exactly ``size`` bytes, padded with an environment variable."""
    empty = json.dumps({"name": name, "environment_variables": {"PADDING": ""}})
    body = json.dumps({"name": name, "environment_variables": {"PADDING": "y" * (size - len(empty))}}).encode()
    assert len(body) == size
    return body


SLOW_UPLOADS = {  # route, JSON body, expected status
    "api-create": ("/api/workspaces", {"name": "slow"}, 201),
    "control-seed": ("/_emulator/seed", {"count": 1, "prefix": "slow"}, 200),
}


@pytest.fixture(params=sorted(SLOW_UPLOADS))
def slow_upload(request, emulator, raw_connection) -> Iterator[threading.Thread]:
    """A request whose body takes ``DRIBBLE_SECONDS`` to arrive, under way in a thread during the test."""
    path, payload, expected_status = SLOW_UPLOADS[request.param]
    body = json.dumps(payload).encode()
    raw_connection.sendall(_request_head("POST", path, Content_Type="application/json", Content_Length=len(body)))
    raw_connection.sendall(body[:1])  # the emulator now waits for the rest
    uploader = threading.Thread(target=_dribble, args=(raw_connection, body[1:], DRIBBLE_SECONDS), daemon=True)
    uploader.start()
    time.sleep(0.3)
    yield uploader
    uploader.join(timeout=DRIBBLE_SECONDS + SOCKET_TIMEOUT)
    assert not uploader.is_alive()
    status, _ = _read_response(raw_connection)
    assert status == expected_status
    assert len(emulator.state.list_workspaces()) == 1


def test_a_slow_upload_does_not_stall_other_clients(emulator, slow_upload) -> None:
    started = time.monotonic()
    response = requests.get(emulator.url + "/api/workspaces", headers={"Authorization": f"token {TOKEN}"}, timeout=5)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert slow_upload.is_alive(), "the upload should still be under way"
    assert elapsed < 1.0


def test_a_slow_upload_does_not_hold_the_state_lock(emulator, slow_upload) -> None:
    acquired = emulator.state.lock.acquire(timeout=1.0)
    try:
        assert acquired, "the state lock is held while a request body is still arriving"
        assert slow_upload.is_alive(), "the upload should still be under way"
    finally:
        if acquired:
            emulator.state.lock.release()


def test_a_declared_length_over_the_cap_is_refused_unread(emulator, raw_connection) -> None:
    # Only the headers go out: the emulator must answer without waiting for the body.
    raw_connection.sendall(_request_head("POST", "/api/workspaces", Content_Length=MAX_BODY_BYTES + 1))
    status, headers, body = _read_full_response(raw_connection)
    assert status == 413
    assert str(MAX_BODY_BYTES) in body["message"]
    assert headers["Connection"] == "close"  # the unread body is not left to be taken for the next request
    assert emulator.state.list_workspaces() == []


def test_a_chunked_body_growing_over_the_cap_is_refused(emulator, raw_connection) -> None:
    raw_connection.sendall(_request_head("POST", "/api/workspaces", Transfer_Encoding="chunked"))
    body = _workspace_body_of_size("too-big", 2 * MAX_BODY_BYTES)
    # Stop just past the cap and never send the final chunk: only a server that counts can answer.
    for start in range(0, MAX_BODY_BYTES + 1, 64 * 1024):
        raw_connection.sendall(_chunk(body[start : min(start + 64 * 1024, MAX_BODY_BYTES + 1)]))
    status, answer = _read_response(raw_connection)
    assert status == 413
    assert str(MAX_BODY_BYTES) in answer["message"]
    assert emulator.state.list_workspaces() == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_cap_creates_the_workspace(emulator, chunked) -> None:
    body = _workspace_body_of_size("normal", MAX_BODY_BYTES)
    data = iter([body]) if chunked else body  # requests sends an iterator chunked
    response = requests.post(
        emulator.url + "/api/workspaces", data=data, headers={"Authorization": f"token {TOKEN}"}, timeout=5
    )
    assert response.status_code == 201
    assert [record.name for record in emulator.state.list_workspaces()] == ["normal"]


def test_required_bodies_are_still_required_and_optional_ones_optional(emulator) -> None:
    headers = {"Authorization": f"token {TOKEN}"}
    created = requests.post(emulator.url + "/api/workspaces", json={"name": "ws"}, headers=headers, timeout=5).json()
    for method, path in (
        ("POST", "/api/workspaces"),
        ("PATCH", f"/api/workspaces/{created['id']}"),
        ("POST", "/api/dask_clusters"),
    ):
        response = requests.request(method, emulator.url + path, headers=headers, timeout=5)
        assert (response.status_code, response.json()) == (422, {"message": "Request body is required"}), path
    started = requests.post(emulator.url + f"/api/workspaces/{created['id']}/start", headers=headers, timeout=5)
    assert started.status_code == 200


def test_control_routes_cap_their_bodies_too(emulator, raw_connection) -> None:
    raw_connection.sendall(_request_head("POST", "/_emulator/seed", Content_Length=MAX_BODY_BYTES + 1))
    status, body = _read_response(raw_connection)
    assert status == 413
    assert str(MAX_BODY_BYTES) in body["message"]
    assert emulator.state.list_workspaces() == []
