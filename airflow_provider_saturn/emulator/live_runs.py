"""A job run whose pods run for real (runner mode, ``runner.py``): what it looks like, from what its processes did.

It answers what a scripted run (``runs.py``) answers (statuses, pods, log segments, a stop), so the endpoints
serve both alike; but its pods, lines and outcome are written by the runner's threads as processes start,
write and end, under the state's lock. A run of ``scale`` N completes once N pods have completed; a failed pod
is replaced by a new one while no more than ``retries`` pods have failed, else the run is ``error`` and its
other pods are stopped. A stop stops every pod: ``stopping`` while a process is left, then ``stopped``.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.emulator.logs import Segment
from airflow_provider_saturn.emulator.pod_marker import new_marker
from airflow_provider_saturn.emulator.pods import Pod

POD_ACTIVE = frozenset({"pending", "running", "stopping"})
MAX_LOG_BYTES = 32 * 1024 * 1024
"""What one pod's log keeps (counted in characters, a newline each); later output is read and dropped (one line
says so)."""
LOG_LIMIT_LINE = "[saturn-emulator] this pod's log reached the emulator's limit of 32 MiB: later output is dropped"


def _digest(*parts: object, length: int) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class PodSpec:
    """What every pod of a run runs, fixed when the run starts (a later update applies to the next run)."""

    command: str
    start_script: str | None
    environment: dict[str, str]
    config_files: dict[str, dict[str, str]]
    working_dir: str
    extra_packages: dict[str, Any]


@dataclass(eq=False)
class LivePod:
    """One pod of a live run: one attempt, one process at a time (its start script, then its command).

    :param ready_at: the pod may start its process from then (``pending`` for ``transition_seconds`` at least).
    :param kill_reason: why its processes are being ended: ``stop``, ``timeout``, ``run-failed`` or ``shutdown``.
    :param process: the running process, while its group may be signalled (cleared before it is reaped).
    :param marker: the random value of ``SATURN_EMULATOR_POD`` in its processes' environment (``pod_marker.py``).
    """

    name: str
    uid: str
    attempt: int
    created: float
    ready_at: float
    status: str = "pending"
    container_started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    kill_reason: str | None = None
    kill_sent_at: float | None = None
    process: subprocess.Popen[bytes] | None = None
    segments: list[Segment] = field(default_factory=list)
    log_bytes: int = 0
    marker: str = field(default_factory=new_marker)

    def write(self, at: float, order: tuple[int, int, int], lines: list[str]) -> None:
        """Keep ``lines`` as written at ``at``, up to ``MAX_LOG_BYTES`` (then one line says the rest is dropped)."""
        kept: list[str] = []
        for line in lines:
            if self.log_bytes > MAX_LOG_BYTES:
                break
            self.log_bytes += len(line) + 1
            kept.append(line if self.log_bytes <= MAX_LOG_BYTES else LOG_LIMIT_LINE)
        if kept:
            self.segments.append(Segment(at, order, self.name, tuple(kept)))


@dataclass(eq=False)
class LiveRun:
    """A job run in runner mode; the fields a scripted ``RunRecord`` has, and its live pods.

    :param on_stop: the runner's hook, called (under the state's lock) when the run is stopped.
    :param failure_message: the ``Failed`` condition's message once the run is ``error``.
    """

    name: str
    uid: str
    number: int
    job_id: str
    scale: int
    retries: int
    started: float
    transition: float
    visible_from: float
    spec: PodSpec
    token: str
    on_stop: Callable[[LiveRun], None]
    stopped: float | None = None
    reported_status: str | None = None
    live_pods: list[LivePod] = field(default_factory=list)
    outcome: str | None = None
    ended: float | None = None
    failure_message: str = ""

    # ------------------------------------------------------------ what the runner changes

    def new_pod(self, now: float) -> LivePod:
        attempt = len(self.live_pods)
        pod = LivePod(
            name=f"{self.name}-{_digest(self.uid, attempt, length=5)}",
            uid=_digest("pod", self.uid, attempt, length=32),
            attempt=attempt,
            created=now,
            ready_at=now + self.transition,
        )
        self.live_pods.append(pod)
        return pod

    def active_pods(self) -> list[LivePod]:
        return [pod for pod in self.live_pods if pod.status in POD_ACTIVE]

    def stop(self, now: float) -> None:
        """Stop the run, unless it already ended or is being stopped: the runner ends its processes."""
        if self.stopped is None and self.outcome is None:
            self.stopped = now
            self.on_stop(self)

    # ------------------------------------------------------------ what it looks like

    def status(self, now: float) -> str:
        if self.reported_status is not None:
            return self.reported_status
        if self.outcome is not None:
            return self.outcome
        if self.stopped is not None:
            return "stopping" if self.active_pods() else "stopped"
        return "running" if any(pod.container_started is not None for pod in self.live_pods) else "pending"

    def ended_at(self, now: float) -> float | None:
        """When the run turned completed, error or stopped; ``None`` while it has not."""
        return self.ended

    def is_visible(self, now: float) -> bool:
        return now >= self.visible_from

    def pods(self, now: float) -> list[Pod]:
        """Every pod the run has made, oldest first, as it is now."""
        return [
            Pod(
                name=pod.name,
                uid=pod.uid,
                controller_uid=self.uid,
                controller_kind="Job",
                labels={"job-name": self.name, "saturncloud.io/resource-id": self.job_id},
                status=pod.status,
                created=pod.created,
                container_started=pod.container_started,
                finished=pod.finished,
                exit_code=pod.exit_code,
                order=(self.number, pod.attempt),
            )
            for pod in self.live_pods
        ]

    def segments(self, pod: Pod, now: float) -> list[Segment]:
        """The lines ``pod`` (one of this run's) has written so far."""
        return next((list(live.segments) for live in self.live_pods if live.name == pod.name), [])
