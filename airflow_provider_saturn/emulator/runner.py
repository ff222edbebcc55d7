"""Runner mode: each pod of a job run runs for real, as processes on this machine (opt-in, loopback only).

A pod gets a fresh private ``$HOME`` with the job's ``config_files`` (``pod_home.py``), then runs the job's
``start_script`` and then its ``command``, each through ``/bin/sh -c`` in a process group of its own
(``pod_process.py``), with an environment made only of a minimal base, the job's ``environment_variables``
and what a Saturn pod has (``SATURN_BASE_URL``, a ``SATURN_TOKEN`` of the run's own, ``SATURN_JOB_ID``...).
Its stdout and stderr become its log lines as they are written; its exit code decides its status.

Bounded: at most ``max_processes`` pods run at once (the others wait ``pending``, in order, at most
``max_waiting_pods`` of them); a pod runs at most ``max_run_seconds``; a pod's group gets SIGTERM, then SIGKILL
``kill_grace_seconds`` later, on a stop, a timeout, a failed run or shutdown; when its main process ends,
what is left of its group is killed (its container ends). ``shutdown`` ends every group and removes every home.
Every change to a run happens under the state's lock; a pod's process is started under it too, so that a stop
or shutdown sees every process there is.

A process that left its pod's group (``setsid``, ``start_new_session=True``, a double-forked daemon) is found
by the marker every process of the pod inherits, ``SATURN_EMULATOR_POD=<random id>`` (``pod_marker.py``), and
SIGKILLed once the group's own end is over (as a container's other processes are when its main process ends):
when each of the pod's processes has ended (exit, stop, timeout: after the group's grace), again when the pod
ends if that sweep did not come out clean, and at ``shutdown``. On Linux only (elsewhere the group is all that
is killed, as before); a process that wipes its environment (``env -i``) or drops the variable before it leaves
the group is not found (a limit, see ``pod_marker.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.live_runs import LivePod, LiveRun, PodSpec
from airflow_provider_saturn.emulator.owners import Owner
from airflow_provider_saturn.emulator.pod_home import (
    ConfigFileError,
    make_home,
    remove_home,
    working_directory,
    write_config_files,
)
from airflow_provider_saturn.emulator.pod_marker import MARKER_VARIABLE, kill_marked
from airflow_provider_saturn.emulator.pod_process import (
    CLOSE_SECONDS,
    base_environment,
    follow,
    signal_group,
    spawn,
    write_python_shims,
)

logger = logging.getLogger(__name__)

STOPPED_BY_US = frozenset({"stop", "run-failed", "shutdown"})
DEFAULT_WORKING_DIR = "/home/jovyan/workspace"
"""Saturn's ``working_dir`` when a job has none (mapped into the pod's home, see ``pod_home.py``)."""
EXTRA_PACKAGE_KINDS = ("pip", "conda", "apt", "cran", "remotes", "bioconductor")


class RunnerState(Protocol):
    """What the runner needs of the emulator's state: its lock and its clock."""

    lock: Any

    def now(self) -> float:
        """Monotonic seconds."""


@dataclass(frozen=True)
class RunnerSettings:
    """How the runner runs pods.

    :param python: the interpreter that ``python`` and ``python3`` run in a pod (default: the emulator's own).
    :param max_processes: pods running at once; more wait ``pending``.
    :param max_run_seconds: how long one pod may run before it is killed and fails.
    :param kill_grace_seconds: from SIGTERM to SIGKILL.
    :param max_waiting_pods: pods waiting for a slot at most; a start beyond it is refused (409).
    """

    python: str = sys.executable
    max_processes: int = 4
    max_run_seconds: float = 3600.0
    kill_grace_seconds: float = 10.0
    max_waiting_pods: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.max_processes <= 64:
            raise ValueError(f"max_processes: from 1 to 64, not {self.max_processes!r}")
        if not 0 < self.max_run_seconds <= 30 * 86400:
            raise ValueError(f"max_run_seconds: more than 0, at most 30 days, not {self.max_run_seconds!r}")
        if not 0 <= self.kill_grace_seconds <= 300:
            raise ValueError(f"kill_grace_seconds: from 0 to 300, not {self.kill_grace_seconds!r}")
        if not 1 <= self.max_waiting_pods <= 100_000:
            raise ValueError(f"max_waiting_pods: from 1 to 100000, not {self.max_waiting_pods!r}")
        found = shutil.which(self.python)
        if found is None:
            raise ValueError(f"python: {self.python!r} is not an executable")
        object.__setattr__(self, "python", os.path.abspath(found))


def pod_spec(settings: dict[str, Any]) -> PodSpec:
    """What each pod of a run of a job with ``settings`` runs (``None`` settings take Saturn's defaults)."""
    return PodSpec(
        command=settings["command"],
        start_script=settings.get("start_script") or None,
        environment=dict(settings.get("environment_variables") or {}),
        config_files={path: dict(entry) for path, entry in (settings.get("config_files") or {}).items()},
        working_dir=str(DEFAULT_WORKING_DIR if settings.get("working_dir") is None else settings["working_dir"]),
        extra_packages=dict(settings.get("extra_packages") or {}),
    )


def _extra_packages_line(packages: dict[str, Any]) -> str | None:
    named = [f"{kind}: {packages[kind]}" for kind in EXTRA_PACKAGE_KINDS if packages.get(kind)]
    return f"extra_packages not installed by the emulator: {'; '.join(named)}" if named else None


class JobRunner:
    """Runs the pods of runner-mode job runs; one per emulator, made with it and shut down with it.

    :param tokens: the emulator's accepted tokens: each run gets one of its own, acting as the job's owner,
        for as long as the run is active.
    """

    def __init__(
        self, state: RunnerState, settings: RunnerSettings, base_url: str, tokens: MutableMapping[str, Owner]
    ) -> None:
        self.state = state
        self.settings = settings
        self.base_url = base_url
        self.tokens = tokens
        self._root: Path | None = None
        self._queue: deque[tuple[LiveRun, LivePod]] = deque()
        self._active_runs: list[LiveRun] = []
        self._workers: set[threading.Thread] = set()
        self._with_process: set[LivePod] = set()
        self._unswept: set[str] = set()
        """The markers of pods that started a process whose leavers have not been swept clean since."""
        self._running = 0
        self._last_at = 0.0
        self._closing = False
        self._wakeup = threading.Event()
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------ runs (callers hold the state's lock)

    def start_run(
        self,
        *,
        job_id: str,
        owner: Owner,
        settings: dict[str, Any],
        name: str,
        uid: str,
        number: int,
        now: float,
        visible_from: float,
        transition: float,
    ) -> LiveRun:
        """A new run of ``settings``, its ``scale`` pods waiting for a slot; a 409 when too many already wait."""
        if self._closing:
            raise EmulatorError(409, "The emulator is shutting down")
        scale = settings.get("scale") or 1
        if len(self._queue) + scale > self.settings.max_waiting_pods:
            raise EmulatorError(
                409,
                f"{len(self._queue)} pods already wait for one of the emulator's {self.settings.max_processes} "
                f"process slots (at most {self.settings.max_waiting_pods} may wait): try again later",
            )
        self._ensure_started()
        run = LiveRun(
            name=name,
            uid=uid,
            number=number,
            job_id=job_id,
            scale=scale,
            retries=settings.get("retries") or 0,
            started=now,
            transition=transition,
            visible_from=visible_from,
            spec=pod_spec(settings),
            token=f"saturn-emulator-run-{secrets.token_hex(16)}",
            on_stop=self._stop_run,
        )
        self.tokens[run.token] = owner
        self._active_runs.append(run)
        for _ in range(scale):
            self._queue.append((run, run.new_pod(now)))
        self._wakeup.set()
        return run

    def _stop_run(self, run: LiveRun) -> None:
        for pod in run.active_pods():
            self._kill(pod, "stop")
        self._settle(run)

    def _kill(self, pod: LivePod, reason: str) -> None:
        """End the pod: SIGTERM to its group now (SIGKILL after the grace, from its thread); one not started yet
        is stopped at once."""
        if pod.kill_reason is not None or pod.status not in ("pending", "running"):
            return
        now = self.state.now()
        pod.kill_reason = reason
        if pod.process is not None:
            signal_group(pod.process.pid, signal.SIGTERM)
            pod.kill_sent_at = now
            if reason != "timeout":
                pod.status = "stopping"
        elif reason != "timeout":
            pod.status, pod.finished = "stopped", now

    def _settle(self, run: LiveRun, pod: LivePod | None = None) -> None:
        """Decide what the end of ``pod`` means for its run: a replacement, the run's outcome, or nothing."""
        now = self.state.now()
        if pod is not None and run.outcome is None and run.stopped is None:
            if pod.status == "completed":
                if sum(live.status == "completed" for live in run.live_pods) >= run.scale:
                    run.outcome, run.ended = "completed", now
            elif pod.status == "error":
                if sum(live.status == "error" for live in run.live_pods) > run.retries:
                    run.outcome, run.ended = "error", now
                    run.failure_message = self._failure_message(pod)
                    for other in run.active_pods():
                        self._kill(other, "run-failed")
                elif not self._closing:
                    self._queue.append((run, run.new_pod(now)))
                    self._wakeup.set()
        if run.stopped is not None and run.ended is None and not run.active_pods():
            run.ended = now
        if run.ended is not None and run in self._active_runs:
            self._active_runs.remove(run)
            self.tokens.pop(run.token, None)

    def _failure_message(self, pod: LivePod) -> str:
        if pod.kill_reason == "timeout":
            return (
                f"Command ran longer than the emulator's max_run_seconds ({self.settings.max_run_seconds:g} s) "
                "and was killed"
            )
        if pod.exit_code is None:
            return "Pod failed before its command started: see its log"
        return f"Command exited with code {pod.exit_code}"

    # ------------------------------------------------------------ slots

    def _ensure_started(self) -> None:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="saturn-emulator-runner-"))
            (self._root / "bin").mkdir()
            write_python_shims(self._root / "bin", self.settings.python)
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, name="saturn-emulator-runner", daemon=True)
            self._dispatcher.start()

    def _dispatch(self) -> None:
        """Start waiting pods, in order, once they are ready and a slot is free; until shutdown."""
        while True:
            self._wakeup.clear()
            wait = 0.5
            with self.state.lock:
                if self._closing:
                    return
                now = self.state.now()
                while self._queue and self._running < self.settings.max_processes:
                    run, pod = self._queue[0]
                    if pod.status != "pending" or pod.kill_reason is not None:
                        self._queue.popleft()
                        continue
                    if pod.ready_at > now:
                        wait = min(wait, pod.ready_at - now)
                        break
                    self._queue.popleft()
                    self._running += 1
                    worker = threading.Thread(target=self._run_pod, args=(run, pod), name=pod.name, daemon=True)
                    self._workers.add(worker)
                    worker.start()
            self._wakeup.wait(max(wait, 0.001))

    # ------------------------------------------------------------ one pod (its own thread)

    def _run_pod(self, run: LiveRun, pod: LivePod) -> None:
        code: int | None = None
        home: Path | None = None
        try:
            assert self._root is not None
            home = make_home(self._root)
            line = _extra_packages_line(run.spec.extra_packages)
            if line:
                self._write(run, pod, [line])
            write_config_files(home, run.spec.config_files)
            cwd = working_directory(home, run.spec.working_dir)
            env = self._environment(run, pod, home)
            for script in filter(None, (run.spec.start_script, run.spec.command)):  # each in a shell of its own
                code = self._run_process(run, pod, script, cwd, env)
                if code != 0:  # a failed start script (or a stop) ends the pod before its command
                    break
        except (ConfigFileError, OSError, ValueError) as error:
            reason = str(error) if isinstance(error, ConfigFileError) else f"{type(error).__name__}: {error}"
            self._write(run, pod, [f"[saturn-emulator] the pod could not start its command: {reason}"])
        finally:
            self._sweep(pod, at_end=True)  # before its home goes: nothing of the pod may still write in it
            if home is not None:
                self._remove(home)
            with self.state.lock:
                self._finish(run, pod, code)
                self._running -= 1
                self._workers.discard(threading.current_thread())
            self._wakeup.set()

    def _environment(self, run: LiveRun, pod: LivePod, home: Path) -> dict[str, str]:
        assert self._root is not None
        return {
            **base_environment(home, self._root / "bin"),
            **run.spec.environment,
            "HOME": str(home),
            "HOSTNAME": pod.name,
            "SATURN_BASE_URL": self.base_url,
            "SATURN_TOKEN": run.token,
            "SATURN_JOB_ID": run.job_id,
            "SATURN_IS_INTERNAL": "true",
            "SATURN_VERSION": catalog.API_VERSION,
            MARKER_VARIABLE: pod.marker,
        }

    def _run_process(self, run: LiveRun, pod: LivePod, script: str, cwd: Path, env: dict[str, str]) -> int | None:
        """Run one script of the pod to its end; its exit code (``None``: not started, the pod was stopped)."""
        with self.state.lock:
            if self._closing or pod.kill_reason is not None:
                return None
            self._unswept.add(pod.marker)  # before the process exists: a shutdown from here on sweeps it
            process = spawn(script, cwd, env)
            pod.process = process
            self._with_process.add(pod)
            if pod.container_started is None:
                pod.container_started, pod.status = self.state.now(), "running"
            deadline = pod.container_started + self.settings.max_run_seconds

        def release() -> None:
            with self.state.lock:
                pod.process = None  # from here its group is never signalled again
                self._with_process.discard(pod)

        return follow(
            process,
            write=lambda lines: self._write(run, pod, lines),
            tick=lambda: self._enforce(pod, deadline),
            release=release,
            sweep=lambda: self._sweep(pod),
        )

    def _sweep(self, pod: LivePod, at_end: bool = False) -> None:
        """Kill the pod's processes that left its group (outside the lock: it reads ``/proc``); its marker is
        swept again at its end and at shutdown until a sweep comes out clean."""
        with self.state.lock:
            if pod.marker not in self._unswept:
                return
        left = kill_marked({pod.marker})
        if left == 0:
            with self.state.lock:
                self._unswept.discard(pod.marker)
        elif at_end:
            logger.warning(
                "The Saturn emulator could not end %d process(es) of pod %s: it tries again at shutdown", left, pod.name
            )

    def _enforce(self, pod: LivePod, deadline: float) -> None:
        """The time bound, and SIGKILL once a SIGTERM's grace has passed."""
        with self.state.lock:
            now = self.state.now()
            if pod.kill_reason is None and now >= deadline:
                self._kill(pod, "timeout")
            grace_over = pod.kill_sent_at is not None and now >= pod.kill_sent_at + self.settings.kill_grace_seconds
            if grace_over and pod.process is not None:
                signal_group(pod.process.pid, signal.SIGKILL)

    def _write(self, run: LiveRun, pod: LivePod, lines: list[str]) -> None:
        """Keep the pod's new lines, each write at a moment after the last (so log keys never move)."""
        if not lines:
            return
        with self.state.lock:
            self._last_at = max(self.state.now(), self._last_at + 1e-6)
            pod.write(self._last_at, (run.number, pod.attempt, len(pod.segments)), lines)

    def _finish(self, run: LiveRun, pod: LivePod, code: int | None) -> None:
        """The pod's end: its status from its exit code and why it was killed, then what it means for its run."""
        if pod.status in ("pending", "running", "stopping"):
            pod.finished, pod.exit_code = self.state.now(), code
            if pod.kill_reason in STOPPED_BY_US:
                pod.status = "stopped"
            elif pod.kill_reason is None and code == 0:
                pod.status = "completed"
            else:
                pod.status = "error"
            self._settle(run, pod)

    @staticmethod
    def _remove(home: Path) -> None:
        try:
            remove_home(home)
        except OSError as error:
            logger.warning("The Saturn emulator could not remove a pod's home %s: %s", home, error.strerror)

    # ------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """End every pod's processes (SIGTERM, SIGKILL after the grace), wait for their threads, kill what left
        their groups, remove every home; bounded by the grace plus a few seconds. Idempotent."""
        with self.state.lock:
            self._closing = True
            now = self.state.now()
            for run in list(self._active_runs):
                if run.outcome is None and run.stopped is None:
                    run.stopped = now
                for pod in run.active_pods():
                    self._kill(pod, "shutdown")
                self._settle(run)
            self._queue.clear()
            workers = list(self._workers)
        self._wakeup.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=5)
        deadline = time.monotonic() + self.settings.kill_grace_seconds + 5
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.state.lock:
            for pod in self._with_process:  # a thread that did not end in time: its group ends now
                if pod.process is not None:
                    signal_group(pod.process.pid, signal.SIGKILL)
        for worker in workers:
            worker.join(timeout=CLOSE_SECONDS + 1)
        with self.state.lock:
            for run in list(self._active_runs):
                self.tokens.pop(run.token, None)
            unswept = set(self._unswept)
        left = kill_marked(unswept)  # what left the group of a pod whose thread did not end, or would not die
        if left:
            logger.warning("The Saturn emulator could not end %d process(es) of its pods at shutdown", left)
        if self._root is not None:
            self._remove(self._root)
