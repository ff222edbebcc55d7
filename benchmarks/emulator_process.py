"""A Saturn emulator in its own process, so that its work is not counted against the code measured."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

TOKEN = "bench-token"


class EmulatorProcess:
    """``python -m airflow_provider_saturn.emulator`` on a free loopback port, with its test controls."""

    def __init__(self, transition_seconds: float) -> None:
        command = [
            sys.executable,
            "-m",
            "airflow_provider_saturn.emulator",
            "--token",
            TOKEN,
            "--transition-seconds",
            str(transition_seconds),
        ]
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
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
