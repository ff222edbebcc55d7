"""Running an operator's ``execute`` with just enough of a task instance, and a deferral's trigger for real."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
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


class TryOf(RecordingTI):
    """A try as Airflow numbers it: ``max_tries`` is what a clear resets (to the last try plus ``retries``);
    ``None`` leaves it unknown, as in a hand-made context."""

    def __init__(self, try_number: int, max_tries: int | None = None) -> None:
        super().__init__()
        self.try_number = try_number
        self.max_tries = max_tries


class DagRunStarted:
    """The DAG run, as far as a try without a task state store reads it: when it started."""

    def __init__(self, seconds_ago: float = 5) -> None:
        self.start_date = datetime.now(UTC) - timedelta(seconds=seconds_ago)


class DictStore:
    """Airflow 3.3's task state store interface (``get``/``set``), kept across the tries of one test."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:  # as Airflow's own store
            raise ValueError("Cannot set value as None")
        self.values[key] = value


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
