"""What several scenarios do: name a run, watch the trigger table, read the triggerer's log, describe tries."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from e2e.deployment import Deployment, component_of
from e2e.emulator import count
from e2e.metadb import TriggerRow, find_value
from e2e.waiting import wait_for

TRIGGER_CLASS = "airflow_provider_saturn.triggers.status.SaturnStatusTrigger"


def run_id(prefix: str) -> str:
    """A run id of its own for each run (scenarios may run twice against one deployment)."""
    return f"{prefix}-{time.strftime('%H%M%S')}-{secrets.token_hex(2)}"


def watch_triggers(
    deployment: Deployment,
    runs: dict[str, str],
    *,
    until: Callable[[], bool],
    timeout: float,
    interval: float = 0.5,
) -> list[TriggerRow]:
    """Every trigger row of the runs (DAG id -> run id) seen while polling the trigger table, until ``until()``
    (bounded); a row is kept as first seen with a triggerer assigned."""
    wanted = set(runs.items())
    seen: dict[int, TriggerRow] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in deployment.db.triggers():
            if (row.dag_id, row.run_id) in wanted and (
                row.id not in seen or (row.triggerer_id and not seen[row.id].triggerer_id)
            ):
                seen[row.id] = row
        if until():
            break
        time.sleep(interval)
    return list(seen.values())


@dataclass(frozen=True)
class TriggerLogRecord:
    """One record of the log the triggerer writes for a deferred task instance (``<try>.log.trigger.<job>.log``)."""

    triggerer_job: int
    time: datetime
    event: str
    record: dict[str, Any]


def trigger_log(deployment: Deployment, dag_id: str, run: str, task_id: str) -> list[TriggerLogRecord]:
    """Every record the triggerers wrote for the task's tries, in time order: the triggerer writes a trigger's
    log next to the task's, named after its own job id (``attempt=1.log.trigger.<job id>.log``)."""
    folder = deployment.settings.logs / f"dag_id={dag_id}" / f"run_id={run}" / f"task_id={task_id}"
    records: list[TriggerLogRecord] = []
    for path in sorted(folder.glob("attempt=*.log.trigger.*.log")):
        job = int(path.name.rsplit(".", 2)[-2])
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            stamp = parse_api_time(record.get("timestamp"))
            if stamp is not None:
                records.append(
                    TriggerLogRecord(job, datetime.fromtimestamp(stamp, UTC), str(record.get("event")), record)
                )
    return sorted(records, key=lambda entry: entry.time)


def trigger_started_and_fired(
    deployment: Deployment, row: TriggerRow
) -> tuple[list[TriggerLogRecord], list[TriggerLogRecord]]:
    """The trigger log's records of the trigger starting, and of it firing its event."""
    assert row.dag_id and row.run_id and row.task_id
    marker = f"(ID {row.id})"
    records = trigger_log(deployment, row.dag_id, row.run_id, row.task_id)
    started = [entry for entry in records if entry.event.endswith(f"{marker} starting")]
    fired = [
        entry
        for entry in records
        if entry.event == "Trigger fired event" and str(entry.record.get("name", "")).endswith(marker)
    ]
    return started, fired


def running_triggers(deployment: Deployment, dag_id: str, run: str, tasks: tuple[str, ...]) -> dict[str, TriggerRow]:
    """The tasks' trigger rows, once each is assigned to a triggerer and has started there (bounded)."""

    def all_running() -> dict[str, TriggerRow] | None:
        rows = {row.task_id: row for row in deployment.db.triggers(dag_id, run) if row.task_id}
        if set(rows) != set(tasks) or not all(row.triggerer_id for row in rows.values()):
            return None
        return rows if all(trigger_started_and_fired(deployment, row)[0] for row in rows.values()) else None

    return wait_for(all_running, timeout=120, interval=0.5, what=f"{list(tasks)} to defer and their triggers to start")


def deadline_of(row: TriggerRow) -> float | None:
    """The absolute deadline (UNIX time) a Saturn trigger was deferred with."""
    value = find_value(row.kwargs, "deadline")
    return float(value) if isinstance(value, int | float) else None


def describe_tries(deployment: Deployment, dag_id: str, run: str, task_id: str) -> tuple[list[dict[str, Any]], str]:
    """Every try of a task and a one-line account: ``try 1 on worker-1: failed; try 2 on worker-2: success``."""
    tries = deployment.api.tries(dag_id, run, task_id)
    text = "; ".join(f"try {t['try_number']} on {component_of(t['hostname'])}: {t['state']}" for t in tries)
    return tries, text


def requests_summary(stats: dict[str, Any], routes: list[str]) -> str:
    """``route=count`` for each route, for the evidence."""
    return ", ".join(f"{route} x{count(stats, route)}" for route in routes)


def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_api_time(value: str | None) -> float | None:
    """A REST API timestamp as UNIX time."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
