"""The Saturn emulator as a process of its own, and the harness's hands on it.

Scenarios read what Saturn saw from the emulator itself: its request counts by route (``/_emulator/stats``,
which counts only ``/api/`` requests, so the controls used here do not show up) and its state, read through
the provider's own ``SaturnClient`` once a scenario's counts have been taken. Workspaces a scenario needs
beforehand are made with ``/_emulator/seed``, which is not an API request either.

The deployment has a second emulator, in runner mode (``run_commands=True``), for ``@task.saturn``: it runs
each job run's command for real, as its own child processes (so the harness stops them with it, see
``processes.py``), at most ``max_processes`` at once and each for at most ``max_run_seconds``. It is started
only by a scenario that needs it; its DAGs reach it as the connection ``saturn_runner``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx

from e2e.processes import Child, Processes
from e2e.waiting import SetupError, free_port, wait_for

TOKEN = "e2e-saturn-token"  # noqa: S105 - the emulator's own token, on 127.0.0.1


def count(stats: dict[str, Any], route: str) -> int:
    """How many requests of ``route`` (e.g. ``"POST /api/workspaces/{id}/start"``) ``stats`` holds."""
    return int(stats.get("by_route", {}).get(route, 0))


class Emulator:
    """``python -m airflow_provider_saturn.emulator`` on a free port of 127.0.0.1.

    :param name: the process's name for the harness, and its log's (``<log_dir>/<name>.log``).
    :param run_commands: runner mode: job runs run their commands as real processes (bounded as below).
    :param max_processes: runner mode: pods running at once (more wait ``pending``).
    :param max_run_seconds: runner mode: a pod's time bound, after which the emulator kills it.
    """

    def __init__(
        self,
        processes: Processes,
        log_dir: Path,
        transition_seconds: float = 3.0,
        *,
        name: str = "saturn-emulator",
        run_commands: bool = False,
        max_processes: int = 4,
        max_run_seconds: float = 300.0,
    ) -> None:
        self.processes = processes
        self.log_dir = log_dir
        self.port = free_port()
        self.transition_seconds = transition_seconds
        self.name = name
        self.run_commands = run_commands
        self.max_processes = max_processes
        self.max_run_seconds = max_run_seconds
        self.child: Child | None = None
        self._http = httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"token {TOKEN}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The emulator's command line (runner mode and its bounds only when asked for)."""
        command = [
            sys.executable,
            "-m",
            "airflow_provider_saturn.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--token",
            TOKEN,
            "--transition-seconds",
            str(self.transition_seconds),
        ]
        if self.run_commands:
            command += ["--run-commands", "--max-processes", str(self.max_processes)]
            command += ["--max-run-seconds", str(self.max_run_seconds)]
        return command

    def start(self) -> None:
        log_path = self.log_dir / f"{self.name}.log"
        self.child = self.processes.start(self.name, self.command(), log_path=log_path)
        wait_for(self._answers, timeout=60, what=f"the Saturn emulator at {self.url}")

    def running(self) -> bool:
        return self.child is not None and self.child.running()

    def _answers(self) -> Any:
        if self.child is not None and not self.child.running():
            raise SetupError(f"the emulator exited with {self.child.popen.returncode}; see {self.child.log_path}")
        return self.get("/api/status")

    def client(self) -> Any:
        """The provider's ``SaturnClient`` on the emulator (its requests count in the stats)."""
        from airflow_provider_saturn.client import SaturnClient

        return SaturnClient(url=self.url, api_token=TOKEN)

    # ---------------------------------------------------------------- controls (no token, not counted)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "stats"))

    def clear_stats(self) -> None:
        self.control("DELETE", "stats")

    def faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (``error_rate``, ``latency``, ...); no arguments means no faults."""
        return dict(self.control("POST", "faults", settings))

    def configure(self, **settings: float) -> dict[str, Any]:
        return dict(self.control("POST", "config", settings))

    def reset(self, transition_seconds: float | None = None) -> None:
        """Forget every resource, fault and count; set the transition time (default: the one it started with)."""
        self.control("POST", "reset")
        self.clear_stats()
        self.configure(transition_seconds=transition_seconds or self.transition_seconds)

    def seed(self, count: int, prefix: str, *, start: bool = False) -> list[str]:
        """Make ``count`` workspaces named ``<prefix>-000000``... (and start them); their ids."""
        return list(self.control("POST", "seed", {"count": count, "prefix": prefix, "start": start})["ids"])

    # ---------------------------------------------------------------- the Saturn API (counted)

    def get(self, path: str) -> Any:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.post(path, json=body or {})
        response.raise_for_status()
        return response.json() if response.content else None

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/workspaces/{workspace_id}"))
