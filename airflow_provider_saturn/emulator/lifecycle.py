"""What every emulated resource shares: the error answer, the clock, and the start/stop lifecycle.

Statuses are worked out when read, from the time of the last start or stop: ``pending`` turns ``running``
and ``stopping`` turns ``stopped`` once ``transition_seconds`` have passed. Nothing runs in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

ACTIVE = frozenset({"pending", "running"})
SETTLES_TO = {"pending": "running", "stopping": "stopped"}
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"


def timestamp() -> str:
    """Now, in the spec's timestamp format."""
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


class EmulatorError(Exception):
    """An error answer: HTTP status and Saturn-style message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Timing(Protocol):
    """The emulator's sense of time, as the job and deployment stores see it."""

    transition_seconds: float
    run_visibility_delay: float

    def now(self) -> float:
        """Monotonic seconds: what every status is decided from."""

    def stamp(self, moment: float) -> str:
        """The wall-clock timestamp of a monotonic ``moment``, in the spec's format."""


@dataclass
class Lifecycle:
    """A resource's status, and since when (monotonic seconds) it has been moving."""

    status: str = "stopped"
    since: float = 0.0
    message: str | None = None
    started_at: str | None = None

    def settle(self, now: float, transition_seconds: float) -> None:
        if self.status in SETTLES_TO and now - self.since >= transition_seconds:
            self.status = SETTLES_TO[self.status]

    def move(self, status: str, now: float) -> None:
        self.status, self.since, self.message = status, now, None
        if status == "pending":
            self.started_at = timestamp()  # "last started": when the start was asked for
