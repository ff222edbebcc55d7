"""A Saturn emulator in its own process, so that its work is not counted against the code measured.

``EmulatorProcess(tls=...)`` serves it over TLS (``python -m benchmarks.emulator_process``: the emulator's own
server with a certificate set on it), as Saturn is served, for comparisons with clients that only speak https.
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
from typing import Any

from benchmarks.tls import TlsFiles

TOKEN = "bench-token"


class EmulatorProcess:
    """``python -m airflow_provider_saturn.emulator`` on a free loopback port, with its test controls.

    :param transition_seconds: how long ``pending`` and ``stopping`` last.
    :param tls: serve https with this certificate (else http).
    :param options: more command-line options of the emulator (``["--real-dask"]``).
    """

    def __init__(self, transition_seconds: float, tls: TlsFiles | None = None, options: tuple[str, ...] = ()) -> None:
        command = [sys.executable, "-m", "airflow_provider_saturn.emulator"]
        self._context: ssl.SSLContext | None = None
        if tls is not None:
            command = [sys.executable, "-m", "benchmarks.emulator_process"]
            command += ["--cert", str(tls.cert), "--key", str(tls.key)]
            self._context = tls.client_context()
        command += ["--token", TOKEN, "--transition-seconds", str(transition_seconds), *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("Saturn emulator serving at "):
            self.process.kill()
            raise RuntimeError(f"The emulator did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1]

    def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=120, context=self._context) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a connection left open over TLS can hold up the graceful stop
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_tls(argv: list[str]) -> None:
    """The emulator's CLI, over TLS: its own server and app, with the certificate set on the uvicorn config."""
    from airflow_provider_saturn.emulator.server import SaturnEmulator

    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_process")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--transition-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    emulator = SaturnEmulator(token=args.token, transition_seconds=args.transition_seconds)
    config = emulator._server.config  # not loaded until the server runs: the certificate is taken then
    config.ssl_certfile, config.ssl_keyfile = args.cert, args.key
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator.start()
    print(f"Saturn emulator serving at {emulator.url.replace('http://', 'https://', 1)}", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()


if __name__ == "__main__":
    serve_tls(sys.argv[1:])
