"""Running an operator's ``execute`` with just enough of a task instance, and a deferral's trigger for real."""

from __future__ import annotations

import asyncio
from typing import Any

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.11
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]


class RecordingTI:
    """Records ``xcom_push`` calls, in order."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}
        self.order: list[str] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value
        self.order.append(key)


def context_for(ti: RecordingTI | None = None) -> Any:
    ti = ti or RecordingTI()
    return {"ti": ti, "task_instance": ti}


async def first_event(trigger: Any, limit: float = 30.0) -> Any:
    """Run a trigger until its first event, as the triggerer would."""
    generator = trigger.run()
    try:
        return await asyncio.wait_for(generator.__anext__(), limit)
    finally:
        await generator.aclose()


def run_operator(operator: Any, context: dict[str, Any] | None = None) -> Any:
    """``execute``; on deferral, run the trigger to its event and resume at ``method_name``."""
    context = context or context_for()
    try:
        return operator.execute(context)
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(deferred.trigger))
        resume = getattr(operator, deferred.method_name)
        return resume(context, event=event.payload, **(deferred.kwargs or {}))


def defer(operator: Any, context: dict[str, Any]) -> Any:
    """``execute`` that must defer; returns the ``TaskDeferred``."""
    try:
        operator.execute(context)
    except TaskDeferred as deferred:
        return deferred
    raise AssertionError(f"{operator.task_id} did not defer")


def prepare_thread() -> None:
    """Let a test thread call ``execute``: Airflow 2.11's execute guard keeps a thread-local that only the
    main thread has."""
    try:
        from airflow.models.baseoperator import ExecutorSafeguard
    except ImportError:  # pragma: no cover - not on every Airflow line
        return
    sentinel = getattr(ExecutorSafeguard, "_sentinel", None)
    if sentinel is not None and not hasattr(sentinel, "callers"):
        sentinel.callers = {}
