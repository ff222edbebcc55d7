"""The one decision every wait makes: given a status and a target, succeed, fail or keep waiting.

The operators' sync wait, the sensors' ``poke`` and the async trigger all call :func:`decide`, so they
cannot drift apart. Statuses are read whatever their case, with clear synonyms mapped
(:func:`~.wire.normalise_status`). A status that is none of Saturn's (:data:`KNOWN_STATUSES`) is waited
through for :data:`UNKNOWN_STATUS_GRACE` seconds at most: a wait that reads it on and on (a
:class:`StatusWatch`) then fails naming it, instead of polling until its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_saturn.client.wire import normalise_status, shorten

Outcome = Literal["success", "failure", "wait"]

RUNNING = "running"
STOPPED = "stopped"
ERROR = "error"
COMPLETED = "completed"  # job runs only: the success of a run
TARGET_STATUSES = ("running", "stopped", "error", "completed")
ACTIVE_STATUSES = frozenset({"pending", "running"})  # on its way up, or up
# Every status of Saturn's spec (JobStatus: the others' plus ``completed``), after normalise_status.
KNOWN_STATUSES = frozenset({"pending", "running", "stopping", "stopped", "error", "completed"})
# How long (seconds) one wait bears a status it does not know, read after read, before it fails naming it.
UNKNOWN_STATUS_GRACE = 60.0
MAX_SHOWN_STATUS = 80  # characters of an unknown status in a message

KIND_LABELS = {
    "jupyter_server": "Jupyter server",
    "dask_cluster": "Dask cluster",
    "deployment": "deployment",
    "job_run": "job run",
}

# What each kind can be waited for: a job run ends ``completed`` (its success), the others do not end.
TARGETS_BY_KIND = {
    "jupyter_server": ("running", "stopped", "error"),
    "dask_cluster": ("running", "stopped", "error"),
    "deployment": ("running", "stopped", "error"),
    "job_run": ("completed", "running", "stopped", "error"),
}


def targets_of(kind: str) -> tuple[str, ...]:
    """The statuses a resource of ``kind`` can be waited for."""
    if kind not in TARGETS_BY_KIND:
        raise ValueError(f"resource kind must be one of {list(TARGETS_BY_KIND)}, not {kind!r}")
    return TARGETS_BY_KIND[kind]


# After asking for a target, these statuses mean the resource was sent the other way (someone stopped what is
# starting, or started what is stopping). The status it left from is not among them: right after the request
# Saturn may still show it, so it means "keep waiting".
TURNED_BACK = {
    RUNNING: frozenset({"stopping"}),
    STOPPED: frozenset({"pending"}),
    ERROR: frozenset(),
    COMPLETED: frozenset(),
}
# Statuses from which the target can never be reached, so that even a sensor stops watching: a job run that
# was stopped (or is stopping) never completes. (Other kinds can always be started or stopped again.)
NEVER_REACHES = {COMPLETED: frozenset({"stopping", STOPPED})}


@dataclass(frozen=True)
class Decision:
    """What to do after reading a status: ``outcome`` and, on failure, why."""

    outcome: Outcome
    status: str | None
    reason: str = ""


def decide(status: Any, target: str, *, strict: bool, unknown_for: float = 0.0) -> Decision:
    """Whether ``status`` reaches ``target``.

    ``error`` fails at once unless it is the target. With ``strict`` (an operator waits for the
    transition it asked for), a resource sent the other way fails too, e.g. ``stopping`` while waiting
    for ``running``; without it (a sensor watching), anything else means keep waiting. A status that is
    not among :data:`KNOWN_STATUSES` (or no status at all) fails once it has lasted ``unknown_for`` seconds,
    :data:`UNKNOWN_STATUS_GRACE` or more (see :class:`StatusWatch`); one read alone never fails on it.
    """
    if target not in TARGET_STATUSES:
        raise ValueError(f"target_status must be one of {list(TARGET_STATUSES)}, not {target!r}")
    current = normalise_status(status)
    if current == target:
        return Decision("success", current)
    if current == ERROR:
        return Decision("failure", current, "the resource went into status 'error'")
    if current in NEVER_REACHES.get(target, ()):
        return Decision("failure", current, f"the resource is {current!r}, so it will never be {target!r}")
    if strict and current in TURNED_BACK[target]:
        return Decision("failure", current, f"the resource is {current!r} while waiting for {target!r}")
    grace = UNKNOWN_STATUS_GRACE  # read at each call: tests and deployments may set it
    if current not in KNOWN_STATUSES and unknown_for >= grace:
        return Decision("failure", current, unknown_status_reason(current, unknown_for, grace))
    return Decision("wait", current)


def unknown_status_reason(current: str | None, lasted: float, grace: float) -> str:
    """Why a wait gave up on a status it does not know: the status (bounded), and for how long."""
    shown = "no status" if current is None else f"the status {shorten(current, MAX_SHOWN_STATUS)!r}"
    return (
        f"Saturn reported {shown} for {lasted:.0f}s, which is none of {sorted(KNOWN_STATUSES)}; a wait gives "
        f"an unknown status UNKNOWN_STATUS_GRACE={grace:g}s before it fails"
    )


class StatusWatch:
    """The verdicts of one wait, read after read: :func:`decide`, told how long an unknown status has lasted.

    The sync wait and the trigger each keep one per wait, so that both give an unknown status the same grace.
    A known status in between starts the grace anew.
    """

    def __init__(self, target: str, *, strict: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.strict = strict
        self._clock = clock
        self._unknown_since: float | None = None

    def judge(self, status: Any) -> Decision:
        """:func:`decide` on this read of the status."""
        now = self._clock()
        if normalise_status(status) in KNOWN_STATUSES:
            self._unknown_since = None
        elif self._unknown_since is None:
            self._unknown_since = now
        unknown_for = 0.0 if self._unknown_since is None else now - self._unknown_since
        return decide(status, self.target, strict=self.strict, unknown_for=unknown_for)


def error_message_of(resource: dict[str, Any]) -> str:
    """Saturn's own words for why a resource failed, wherever this Saturn version puts them."""
    for key in ("status_message", "message", "error"):
        if resource.get(key):
            return shorten(str(resource[key]))
    nested = resource.get("dask_cluster")
    errors = resource.get("errors") or (nested.get("errors") if isinstance(nested, dict) else None) or []
    if isinstance(errors, list) and errors:
        return shorten("; ".join(str(error) for error in errors))
    return "Saturn gave no message"
