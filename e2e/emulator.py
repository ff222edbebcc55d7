"""The Saturn emulator as a process of its own, and the harness's hands on it.

Scenarios read what Saturn saw from the emulator itself: its request counts by route (``/_emulator/stats``,
which counts only ``/api/`` requests, so the controls used here do not show up) and its state, read through
the provider's own ``SaturnClient`` once a scenario's counts have been taken. Workspaces a scenario needs
beforehand are made with ``/_emulator/seed``, which is not an API request either.

The deployment has a second emulator, in runner mode (``run_commands=True``), for ``@task.saturn``: it runs
each job run's command for real, as its own child processes (so the harness stops them with it, see
``processes.py``), at most ``max_processes`` at once and each for at most ``max_run_seconds``. It is started
only by a scenario that needs it; its DAGs reach it as the connection ``saturn_runner``.

The deployment's main emulator runs in real-Dask mode (``real_dask=True``): starting a Dask cluster starts a real
``distributed`` scheduler and its workers on 127.0.0.1 (mutual TLS), as child processes of the emulator, so that
``@task.saturn_dask`` functions on the Celery workers compute on them; at most ``max_dask_processes`` at once.
``dask_processes()`` reads them from the process table (by the launcher they run), and ``DaskProcessWatch``
samples them while a scenario runs: which scheduler and workers ran, whether one was replaced, and when none was
left.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from e2e.processes import Child, Processes, descendants, process_table
from e2e.waiting import SetupError, free_port, wait_for

TOKEN = "e2e-saturn-token"  # noqa: S105 - the emulator's own token, on 127.0.0.1
DASK_LAUNCHER = "dask_launcher.py"
"""The script each process of a real Dask cluster runs (``airflow_provider_saturn/emulator/dask_launcher.py``)."""
DASK_ROLES = ("scheduler", "worker")


def count(stats: dict[str, Any], route: str) -> int:
    """How many requests of ``route`` (e.g. ``"POST /api/workspaces/{id}/start"``) ``stats`` holds."""
    return int(stats.get("by_route", {}).get(route, 0))


class Emulator:
    """``python -m airflow_provider_saturn.emulator`` on a free port of 127.0.0.1.

    :param name: the process's name for the harness, and its log's (``<log_dir>/<name>.log``).
    :param run_commands: runner mode: job runs run their commands as real processes (bounded as below).
    :param max_processes: runner mode: pods running at once (more wait ``pending``).
    :param max_run_seconds: runner mode: a pod's time bound, after which the emulator kills it.
    :param real_dask: real-Dask mode: a started Dask cluster runs a real scheduler and workers (bounded as below).
    :param max_dask_processes: real-Dask mode: schedulers and workers of every cluster at once.
    :param max_dask_workers: real-Dask mode: workers of one cluster at most.
    :param dask_start_timeout: real-Dask mode: seconds a cluster has to answer with its workers, else ``error``.
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
        real_dask: bool = False,
        max_dask_processes: int = 8,
        max_dask_workers: int = 4,
        dask_start_timeout: float = 60.0,
    ) -> None:
        self.processes = processes
        self.log_dir = log_dir
        self.port = free_port()
        self.transition_seconds = transition_seconds
        self.name = name
        self.run_commands = run_commands
        self.max_processes = max_processes
        self.max_run_seconds = max_run_seconds
        self.real_dask = real_dask
        self.max_dask_processes = max_dask_processes
        self.max_dask_workers = max_dask_workers
        self.dask_start_timeout = dask_start_timeout
        self.child: Child | None = None
        self._http = httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"token {TOKEN}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The emulator's command line (runner mode, real-Dask mode and their bounds only when asked for)."""
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
        if self.real_dask:
            command += ["--real-dask", "--max-dask-processes", str(self.max_dask_processes)]
            command += ["--max-dask-workers", str(self.max_dask_workers)]
            command += ["--dask-start-timeout", str(self.dask_start_timeout)]
        return command

    def start(self) -> None:
        log_path = self.log_dir / f"{self.name}.log"
        self.child = self.processes.start(self.name, self.command(), log_path=log_path)
        wait_for(self._answers, timeout=60, what=f"the Saturn emulator at {self.url}")

    def running(self) -> bool:
        return self.child is not None and self.child.running()

    def dask_processes(self) -> dict[int, str]:
        """Real-Dask mode: pid -> role (``scheduler`` or ``worker``) of every live process of the emulator's Dask
        clusters: its descendants that run the Dask launcher. Empty when the emulator is not running."""
        if self.child is None or not self.child.running():
            return {}
        found: dict[int, str] = {}
        for pid in descendants(self.child.pid, process_table()):
            role = dask_role(pid)
            if role is not None:
                found[pid] = role
        return found

    def dask_processes_gone(self, timeout: float) -> float | None:
        """Seconds until no Dask process of the emulator is left (checked every 0.2 s); ``None`` if some still
        run after ``timeout`` seconds."""
        started = time.monotonic()
        while self.dask_processes():
            if time.monotonic() - started > timeout:
                return None
            time.sleep(0.2)
        return time.monotonic() - started

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


def command_line(pid: int) -> list[str]:
    """A process's arguments (``/proc/<pid>/cmdline``); empty when it is gone or cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def dask_role(pid: int) -> str | None:
    """``scheduler`` or ``worker`` for a process of a real Dask cluster (``python -P .../dask_launcher.py ROLE
    ...``); ``None`` for any other process."""
    arguments = command_line(pid)
    for index, argument in enumerate(arguments[:-1]):
        if Path(argument).name == DASK_LAUNCHER and arguments[index + 1] in DASK_ROLES:
            return arguments[index + 1]
    return None


@dataclass(frozen=True)
class DaskSample:
    """The emulator's Dask processes at one moment (monotonic seconds): pid -> role."""

    at: float
    processes: dict[int, str]

    def pids(self, role: str) -> set[int]:
        return {pid for pid, which in self.processes.items() if which == role}


@dataclass
class DaskProcessWatch:
    """Samples ``emulator.dask_processes()`` every ``interval`` seconds in a thread of its own, from ``start()``
    until ``stop()`` (and for at most ``limit`` seconds): what ran, and when none was left."""

    emulator: Emulator
    interval: float = 0.5
    limit: float = 900.0
    samples: list[DaskSample] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> DaskProcessWatch:
        self._thread = threading.Thread(target=self._run, name="e2e-dask-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[DaskSample]:
        """Stop sampling (bounded); the samples taken."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.samples

    def sample(self) -> DaskSample:
        """One sample now (also kept)."""
        taken = DaskSample(time.monotonic(), self.emulator.dask_processes())
        self.samples.append(taken)
        return taken

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stopped.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stopped.wait(self.interval)

    def seen(self, role: str) -> set[int]:
        """Every pid of ``role`` in any sample."""
        return {pid for sample in self.samples for pid in sample.pids(role)}

    def with_processes(self) -> list[DaskSample]:
        """The samples in which some Dask process ran."""
        return [sample for sample in self.samples if sample.processes]
