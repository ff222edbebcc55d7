"""One run of a job: its pods (one per attempt), their statuses and their lines, worked out from the clock.

A run is ``pending`` for ``transition`` seconds, then its first pod runs the script. The script's lines
appear at (running start + the sleeps before them); it ends at (running start + its sleeps), or
``transition`` seconds after it started running if it never sleeps. A pod that fails is followed at once
by a new pod of the same run (pending, then running the script again), ``retries`` times at most; the
run is ``completed`` or ``error`` as its last pod. A stop cuts the current pod: ``stopping`` for
``transition`` seconds, then ``stopped``, and nothing is written after the stop.

A test can make Saturn report any status for a run (``reported_status``), as a Saturn version that spells its
statuses otherwise would: the run's pods and lines go on as its timing says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from airflow_provider_saturn.emulator.logs import Segment
from airflow_provider_saturn.emulator.pods import SIGTERM_EXIT_CODE, Pod
from airflow_provider_saturn.emulator.script import Script

RUN_ACTIVE = frozenset({"pending", "running"})


def _digest(*parts: object, length: int) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:length]


@dataclass
class RunRecord:
    """A job run; everything but ``stopped`` is fixed when it starts.

    :param number: the job's run counter, 1 for its first run.
    :param started: monotonic seconds of the start request.
    :param visible_from: before then the run is left out of runtime summaries, history and active pods.
    :param stopped: when a stop reached the run before it ended.
    :param reported_status: what Saturn reports as the run's status, whatever its timing says (a test control).
    """

    name: str
    uid: str
    number: int
    job_id: str
    script: Script
    scale: int
    retries: int
    started: float
    transition: float
    visible_from: float
    stopped: float | None = None
    reported_status: str | None = None

    # ------------------------------------------------------------ timing of the attempts

    @property
    def duration(self) -> float:
        """How long the script runs in each attempt."""
        return self.script.sleep_total if self.script.sleep_total is not None else self.transition

    @property
    def attempts(self) -> int:
        """How many pods the run makes if nobody stops it."""
        return 1 if self.script.exit_code == 0 else self.retries + 1

    def _created(self, attempt: int) -> float:
        return self.started + attempt * (self.transition + self.duration)

    @property
    def ends(self) -> float:
        """When the run's last attempt ends, unless stopped first."""
        return self._created(self.attempts - 1) + self.transition + self.duration

    @property
    def failure_message(self) -> str:
        """The ``Failed`` condition's message once the run is ``error``."""
        return f"Command exited with code {self.script.exit_code}"

    def stop(self, now: float) -> None:
        """Stop the run, unless it already ended or is being stopped."""
        if self.stopped is None and now < self.ends:
            self.stopped = now

    # ------------------------------------------------------------ what it looks like at a moment

    def status(self, now: float) -> str:
        if self.reported_status is not None:
            return self.reported_status
        if self.stopped is not None:
            return "stopping" if now < self.stopped + self.transition else "stopped"
        if now < self.started + self.transition:
            return "pending"
        if now < self.ends:
            return "running"
        return "completed" if self.script.exit_code == 0 else "error"

    def ended_at(self, now: float) -> float | None:
        """When the run turned completed, error or stopped; ``None`` while it has not."""
        if self.stopped is not None:
            stopped = self.stopped + self.transition
            return stopped if now >= stopped else None
        return self.ends if now >= self.ends else None

    def is_visible(self, now: float) -> bool:
        return now >= self.visible_from

    def pods(self, now: float) -> list[Pod]:
        """Every pod the run has made by ``now``, oldest first."""
        pods = []
        for attempt in range(self.attempts):
            created = self._created(attempt)
            if created > now or (self.stopped is not None and created > self.stopped):
                break
            pods.append(self._pod(attempt, created, now))
        return pods

    def _pod(self, attempt: int, created: float, now: float) -> Pod:
        running_from = created + self.transition
        script_ends = running_from + self.duration
        cut = self.stopped if self.stopped is not None and self.stopped < script_ends else None
        exit_code: int | None = None
        finished: float | None = None
        if cut is not None:
            status = "stopping" if now < cut + self.transition else "stopped"
            if status == "stopped":
                finished = cut + self.transition
                exit_code = SIGTERM_EXIT_CODE if cut >= running_from else None
        elif now < running_from:
            status = "pending"
        elif now < script_ends:
            status = "running"
        else:
            status = "completed" if self.script.exit_code == 0 else "error"
            finished, exit_code = script_ends, self.script.exit_code
        started_running = running_from <= now and (cut is None or running_from <= cut)
        return Pod(
            name=f"{self.name}-{_digest(self.uid, attempt, length=5)}",
            uid=_digest("pod", self.uid, attempt, length=32),
            controller_uid=self.uid,
            controller_kind="Job",
            labels={"job-name": self.name, "saturncloud.io/resource-id": self.job_id},
            status=status,
            created=created,
            container_started=running_from if started_running else None,
            finished=finished,
            exit_code=exit_code,
            order=(self.number, attempt),
        )

    def segments(self, pod: Pod, now: float) -> list[Segment]:
        """The lines ``pod`` (one of this run's) has written by ``now``."""
        if pod.container_started is None:
            return []
        until = now if self.stopped is None else min(now, self.stopped)
        attempt = pod.order[1]
        return [
            Segment(pod.container_started + offset, (self.number, attempt, step), pod.name, lines)
            for step, (offset, lines) in enumerate(self.script.chunks)
            if pod.container_started + offset <= until
        ]
