"""The one decision every wait makes: given a status and a target, succeed, fail or keep waiting.

The operators' sync wait, the sensors' ``poke`` and the async trigger all call :func:`decide`, so they
cannot drift apart.
"""

from __future__ import annotations

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


def decide(status: Any, target: str, *, strict: bool) -> Decision:
    """Whether ``status`` reaches ``target``.

    ``error`` fails at once unless it is the target. With ``strict`` (an operator waits for the
    transition it asked for), a resource sent the other way fails too, e.g. ``stopping`` while waiting
    for ``running``; without it (a sensor watching), anything else means keep waiting.
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
    return Decision("wait", current)


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
