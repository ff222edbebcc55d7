"""Waiting for a Saturn status, shared by operators and sensors: synchronously, or deferred to a trigger.

Every branch takes its verdict from :func:`~airflow_provider_saturn.client.statuses.decide`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow_provider_saturn.client.errors import SaturnResourceError, SaturnTransientError, SaturnWaitTimeoutError
from airflow_provider_saturn.client.statuses import KIND_LABELS, StatusWatch, decide, error_message_of
from airflow_provider_saturn.run_logs import TAIL_KEY, with_log_tail

EVENT_KEYS = frozenset({"status", "resource_id", "target_status", "last_status", "message"})


def seconds(value: float | timedelta) -> float:
    """Seconds from a number or a ``timedelta``."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def positive_seconds(name: str, value: float | timedelta) -> float:
    """Seconds from a number or a ``timedelta`` that must be above zero; else a ``ValueError`` naming ``name``.

    A zero poll interval would read Saturn as fast as the loop turns; a zero timeout would never wait.
    """
    if isinstance(value, bool):  # True would be one second
        raise ValueError(f"{name} must be a number of seconds or a timedelta, not {value!r}")
    try:
        result = seconds(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds or a timedelta, not {value!r}") from None
    if not result > 0:  # also refuses NaN
        raise ValueError(f"{name} must be positive, not {value!r}")
    if not math.isfinite(result):  # a wait without end
        raise ValueError(f"{name} must be a finite number of seconds, not {value!r}")
    return result


def missing_id(value: Any) -> bool:
    """True for "no id": ``None``, or what a template renders a missing XCom to (``"None"``, ``""``, blanks)."""
    return value is None or str(value).strip() in ("", "None")


def required_id(value: Any, argument: str, task: str) -> str:
    """``value`` as an id; no id (see :func:`missing_id`) fails at once, naming the argument, before any request."""
    if missing_id(value):
        raise ValueError(
            f"{task} got no {argument} (it is {value!r}): a Saturn id is needed. Where it is pulled from an "
            "upstream task's XCom, that task pushed none."
        )
    return str(value)


def check_resource(
    resource: dict[str, Any], kind: str, target: str, *, strict: bool, watch: StatusWatch | None = None
) -> bool:
    """True when ``resource`` is at ``target``; raises :class:`SaturnResourceError` on failure; else False.

    ``watch``, the wait's :class:`~.statuses.StatusWatch`, fails a status it does not know after its grace;
    without one (a single read), such a status means keep waiting.
    """
    status = resource.get("status")
    decision = watch.judge(status) if watch is not None else decide(status, target, strict=strict)
    if decision.outcome == "failure":
        resource_id = str(resource.get("id"))
        message = f"Saturn {KIND_LABELS[kind]} {resource_id}: {decision.reason}: {error_message_of(resource)}"
        raise SaturnResourceError(message, kind=kind, resource_id=resource_id)
    return decision.outcome == "success"


def wait_for_status(
    read: Callable[[], dict[str, Any]],
    *,
    kind: str,
    resource_id: str,
    target: str,
    timeout: float,
    poll_interval: float,
    strict: bool = True,
    log: Any = None,
    after_read: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll ``read`` until the resource is at ``target``; fail at once on ``error``; bounded by ``timeout``.

    ``after_read`` sees each resource read before the verdict on it (a job run's wait reads its log there,
    so the last lines are out before the wait ends).
    """
    started = time.monotonic()
    deadline = started + timeout
    last_status, last_problem = None, ""
    watch = StatusWatch(target, strict=strict)
    while True:
        try:
            resource = read()
        except SaturnTransientError as error:  # retries spent: poll on until the deadline, as the trigger does
            last_problem = f"; last error: {error}"
            if log is not None:
                log.warning("Could not read Saturn %s %s (%s); polling on", KIND_LABELS[kind], resource_id, error)
        else:
            if after_read is not None:
                after_read(resource)
            if check_resource(resource, kind, target, strict=strict, watch=watch):
                if log is not None:
                    log.info("Saturn %s %s is %s", KIND_LABELS[kind], resource_id, target)
                return resource
            last_status = resource.get("status")
            if log is not None:
                log.info("Saturn %s %s is %s; waiting for %s", KIND_LABELS[kind], resource_id, last_status, target)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SaturnWaitTimeoutError(
                f"Timed out after {time.monotonic() - started:.0f}s waiting for Saturn {KIND_LABELS[kind]} "
                f"{resource_id} to be {target!r}; last status {last_status!r}{last_problem}"
            )
        time.sleep(min(poll_interval, remaining))


def check_event(event: dict[str, Any] | None, *, resource_id: str, target: str) -> dict[str, Any]:
    """Validate a trigger event; raise for error, timeout, or an event that is not ours."""
    if not isinstance(event, dict) or not set(event) >= EVENT_KEYS:
        raise ValueError(f"Unexpected trigger event {event!r}: expected the keys {sorted(EVENT_KEYS)}")
    if event["resource_id"] != resource_id or event["target_status"] != target:
        raise ValueError(
            f"Trigger event for {event['resource_id']} -> {event['target_status']!r} does not match "
            f"this task's wait for {resource_id} -> {target!r}"
        )
    if event["status"] == "success":
        return event
    tail = [str(line) for line in event.get(TAIL_KEY) or [] if isinstance(event.get(TAIL_KEY), list)]
    if event["status"] == "timeout":
        raise SaturnWaitTimeoutError(with_log_tail(event["message"], tail))
    if event["status"] == "error":
        raise SaturnResourceError(with_log_tail(event["message"], tail), resource_id=resource_id)
    raise ValueError(f"Unknown trigger event status {event['status']!r}")
