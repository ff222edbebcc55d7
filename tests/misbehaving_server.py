"""A raw HTTP server on 127.0.0.1 that answers whatever a test tells it: odd bodies, redirects, drips, hangs.

The Saturn emulator plays a well-behaved Saturn; this plays the proxies, load balancers and broken servers
in front of one. Each connection gets one answer and is closed. Every wait here is bounded, and
:meth:`MisbehavingServer.stop` ends drips and hangs at once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_REQUEST_BYTES = 1 << 20


@dataclass(frozen=True)
class Seen:
    """A request the server received."""

    method: str
    path: str  # as sent on the request line: still percent-encoded, query included
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """What to send back.

    :param body: the body bytes (``json_body`` fills it with JSON).
    :param content_length: the Content-Length to claim (default: the body's length; ``-1``: none at all).
    :param drip_seconds: pause between bytes of the body (with ``drip_headers``, of the head too).
    :param cut_after: close the connection after this many body bytes.
    :param hang: read the request, then say nothing until the server stops.
    """

    status: int = 200
    reason: str = "OK"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b""
    content_length: int | None = None
    drip_seconds: float = 0.0
    drip_headers: bool = False
    cut_after: int | None = None
    hang: bool = False

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kwargs: Any) -> Answer:
        return cls(status=status, body=json.dumps(payload).encode(), **kwargs)


def _read_request(connection: socket.socket) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk or len(data) > MAX_REQUEST_BYTES:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < min(length, MAX_REQUEST_BYTES):
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, path, headers, body)


class MisbehavingServer:
    """Serves ``respond(request) -> Answer`` on 127.0.0.1 (default: a ``{}`` 200) and records every request."""

    def __init__(self, respond: Callable[[Seen], Answer] | None = None, *, greeting: bytes | None = None) -> None:
        """``greeting``: bytes sent as soon as a client connects, before reading anything (e.g. plain HTTP
        to a client that starts a TLS handshake); the connection is then closed."""
        self.respond: Callable[[Seen], Answer] = respond or (lambda seen: Answer.json({}))
        self.greeting = greeting
        self.requests: list[Seen] = []
        self.connections = 0
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer_always(self, answer: Answer) -> None:
        self.respond = lambda seen: answer

    def answer_in_turn(self, *answers: Answer) -> None:
        """The answers in order, then the last one again and again."""
        queue = list(answers)

        def respond(seen: Seen) -> Answer:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.respond = respond

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pause(self, seconds: float) -> bool:
        """Sleep, unless the server is stopping; True when it is."""
        return self._stopping.wait(seconds)

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                if self.greeting is not None:
                    connection.sendall(self.greeting)
                    return
                seen = _read_request(connection)
                if seen is None:
                    return
                self.requests.append(seen)
                self._send(connection, self.respond(seen))
            except OSError:
                return  # the client gave up: that is what many of these tests are about

    def _send(self, connection: socket.socket, answer: Answer) -> None:
        if answer.hang:
            self._stopping.wait(60)
            return
        headers = dict(answer.headers)
        length = len(answer.body) if answer.content_length is None else answer.content_length
        if length >= 0:
            headers["Content-Length"] = str(length)
        headers["Connection"] = "close"
        head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        self._write(connection, head.encode("latin-1"), answer.drip_seconds if answer.drip_headers else 0.0)
        body = answer.body if answer.cut_after is None else answer.body[: answer.cut_after]
        self._write(connection, body, answer.drip_seconds)

    def _write(self, connection: socket.socket, data: bytes, drip_seconds: float) -> None:
        if not drip_seconds:
            connection.sendall(data)
            return
        for index in range(len(data)):
            connection.sendall(data[index : index + 1])
            if self._pause(drip_seconds):
                return


@contextmanager
def misbehaving_server(
    respond: Callable[[Seen], Answer] | None = None, *, greeting: bytes | None = None
) -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(respond, greeting=greeting)
    try:
        yield server
    finally:
        server.stop()


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections stay open between answers
    disable_nagle_algorithm = True  # the head and the body go out in two writes: no delayed-ACK stall between
    server: KeepAliveServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.server.seen_paths.append(self.path)
        self.server.connections.add(self.client_address)
        delay = next((seconds for part, seconds in self.server.delays.items() if part in self.path), 0.0)
        if delay:
            self.server.stopping.wait(delay)
        body = json.dumps({"id": "a" * 32, "status": "running"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KeepAliveServer(ThreadingHTTPServer):
    """A well-behaved HTTP/1.1 server on 127.0.0.1 that keeps connections open and answers every request with
    a running resource, after the delay of the first key of ``delays`` found in the path (none by default)."""

    daemon_threads = True
    request_queue_size = 256  # many connections at once, none refused

    def __init__(self, delays: dict[str, float] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _KeepAliveHandler)
        self.delays = dict(delays or {})
        self.seen_paths: list[str] = []
        self.connections: set[tuple[str, int]] = set()  # the client addresses seen: one per connection
        self.stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is no error here."""


@contextmanager
def keep_alive_server(delays: dict[str, float] | None = None) -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(delays)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def elapsed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds a call took, and what it returned or raised."""
    started = time.monotonic()
    try:
        result: Any = call()
    except BaseException as error:
        result = error
    return time.monotonic() - started, result
