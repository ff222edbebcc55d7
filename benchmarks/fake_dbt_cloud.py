"""A fake dbt Cloud run-status endpoint, for the dbt Cloud provider's ``DbtCloudRunJobTrigger``, in its own process.

The trigger (``airflow.providers.dbt.cloud.triggers.dbt``) polls, per wait and per poll interval,
``GET https://<connection host>/api/v2/accounts/<account id>/runs/<run id>/`` through a new ``aiohttp``
session (so a new TCP connection and TLS handshake each time) and reads ``data.status`` from the JSON answer:
``3`` running, ``10`` success (``20`` error, ``30`` cancelled). This server answers that route from a
schedule (each run turns from ``3`` to ``10`` at a given UNIX time) and counts the requests and connections.
HTTPS only (the hook builds ``https://`` URLs): a minimal HTTP/1.1 server on asyncio streams, keep-alive
honoured, on 127.0.0.1.

Controls: ``POST /_fake/runs {"runs": {"<run id>": <UNIX time it succeeds>}}`` (added to the schedule),
``GET /_fake/stats`` (``{"requests", "connections"}``; run-status requests only) and ``DELETE /_fake/stats``.

``python -m benchmarks.fake_dbt_cloud --cert CERT --key KEY`` prints ``fake dbt Cloud serving at <url>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from typing import Any

from benchmarks.tls import TlsFiles

RUN_ROUTE = re.compile(r"^/api/v2/accounts/(\d+)/runs/(\d+)/?$")
RUNNING, SUCCESS = 3, 10
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Too Large"}


class FakeDbtCloud:
    """The schedule of runs and the counts, and the HTTP handling of one connection."""

    def __init__(self) -> None:
        self.succeeds_at: dict[int, float] = {}
        self.requests = 0
        self.connections = 0

    def run_status(self, account: str, run_id: int) -> tuple[int, Any]:
        self.requests += 1
        when = self.succeeds_at.get(run_id)
        if when is None:
            return 404, {"status": {"code": 404, "is_success": False, "user_message": "Run not found"}, "data": None}
        status = SUCCESS if time.time() >= when else RUNNING
        data = {"id": run_id, "account_id": int(account), "status": status, "status_humanized": str(status)}
        return 200, {"status": {"code": 200, "is_success": True}, "data": data}

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        route = RUN_ROUTE.match(path)
        if route is not None:
            if method != "GET":
                return 405, {"message": "GET only"}
            return self.run_status(route.group(1), int(route.group(2)))
        if path == "/_fake/runs" and method == "POST":
            runs = json.loads(body or b"{}").get("runs", {})
            self.succeeds_at.update({int(run_id): float(when) for run_id, when in runs.items()})
            return 200, {"runs": len(self.succeeds_at)}
        if path == "/_fake/stats" and method in ("GET", "DELETE"):
            stats = {"requests": self.requests, "connections": self.connections}
            if method == "DELETE":
                self.requests = self.connections = 0
            return 200, stats
        return 404, {"message": f"No route {method} {path}"}

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self._send(writer, 400, {"message": "bad request line"}, close=True)
                    return
                method, target, _ = parts
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length > MAX_BODY:
                    await self._send(writer, 413, {"message": "body too large"}, close=True)
                    return
                body = await reader.readexactly(length) if length else b""
                status, answer = self.answer(method, target.split("?", 1)[0], body)
                close = headers.get("connection", "").lower() == "close"
                await self._send(writer, status, answer, close=close)
                if close:
                    return
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, answer: Any, *, close: bool) -> None:
        payload = json.dumps(answer).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
        )
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()


async def _serve(cert: str, key: str, port: int) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = FakeDbtCloud()
    server = await asyncio.start_server(
        fake.serve_connection, "127.0.0.1", port, ssl=context, limit=MAX_HEAD, backlog=2048
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"fake dbt Cloud serving at https://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


class FakeDbtCloudProcess:
    """The fake endpoint in its own process (its work is not counted against the trigger measured)."""

    def __init__(self, tls: TlsFiles) -> None:
        command = [sys.executable, "-m", "benchmarks.fake_dbt_cloud", "--cert", str(tls.cert), "--key", str(tls.key)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("fake dbt Cloud serving at "):
            self.process.kill()
            raise RuntimeError(f"The fake dbt Cloud did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1]
        self.host = self.url.removeprefix("https://")
        self._context = tls.client_context()

    def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60, context=self._context) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> FakeDbtCloudProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fake_dbt_cloud")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    asyncio.run(_serve(options.cert, options.key, options.port))
