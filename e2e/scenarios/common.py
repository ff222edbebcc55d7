"""What several scenarios do: name a run, watch the trigger table, read task and triggerer logs, describe tries."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2e.airflow_env import HEARTBEAT_TIMEOUT
from e2e.deployment import WORKERS, Deployment, component_of
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.metadb import TriggerRow, find_value
from e2e.processes import process_table
from e2e.waiting import wait_for

TRIGGER_CLASS = "airflow_provider_saturn.triggers.status.SaturnStatusTrigger"
RETRY_WAIT = HEARTBEAT_TIMEOUT + 120  # heartbeat timeout, detection, retry delay, queueing, start-up


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


def task_log_folder(deployment: Deployment, dag_id: str, run: str, task_id: str) -> Path:
    """Where Airflow writes a task's logs: each try's (``attempt=N.log``) and its triggers' beside them."""
    return deployment.settings.logs / f"dag_id={dag_id}" / f"run_id={run}" / f"task_id={task_id}"


def task_log_text(deployment: Deployment, dag_id: str, run: str, task_id: str, attempt: int) -> str:
    """The text of one try's task log; empty while there is none."""
    path = task_log_folder(deployment, dag_id, run, task_id) / f"attempt={attempt}.log"
    return path.read_text(errors="replace") if path.is_file() else ""


def trigger_log(deployment: Deployment, dag_id: str, run: str, task_id: str) -> list[TriggerLogRecord]:
    """Every record the triggerers wrote for the task's tries, in time order: the triggerer writes a trigger's
    log next to the task's, named after its own job id (``attempt=1.log.trigger.<job id>.log``)."""
    records: list[TriggerLogRecord] = []
    for path in sorted(task_log_folder(deployment, dag_id, run, task_id).glob("attempt=*.log.trigger.*.log")):
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


def kill_worker_running(
    deployment: Deployment, evidence: Evidence, dag_id: str, run: str, task_id: str, moment: str
) -> str:
    """SIGKILL the worker running the task's current try; returns its name."""
    ti = deployment.api.task_instance(dag_id, run, task_id)
    victim = component_of(ti["hostname"])
    evidence.require(
        ti["state"] == "running" and victim in WORKERS,
        f"{task_id} try {ti['try_number']} is running on {victim} ({ti['state']})",
    )
    pids = deployment.kill(victim)
    time.sleep(0.5)
    alive = set(pids) & set(process_table())
    evidence.check(
        not alive,
        f"killed {victim} {moment}: SIGKILL to its {len(pids)} processes (Celery, pool, task supervisor and task), "
        f"none left{'' if not alive else f' (alive: {sorted(alive)})'}",
    )
    return victim


def wait_retry_elsewhere(
    deployment: Deployment, evidence: Evidence, dag_id: str, run: str, task_id: str, victim: str
) -> None:
    """Wait until the next try runs (or ran), then bring the killed worker back; bounded."""
    killed_at = time.monotonic()
    ti = deployment.api.task_instance(dag_id, run, task_id)
    retry = deployment.api.wait_task(
        dag_id, run, task_id, {"running", "success", "failed"}, timeout=RETRY_WAIT, try_number=ti["try_number"] + 1
    )
    evidence.note(
        f"{task_id} try {retry['try_number']} {retry['state']} on {component_of(retry['hostname'])} "
        f"{time.monotonic() - killed_at:.0f}s after the kill (heartbeat timeout {HEARTBEAT_TIMEOUT}s)"
    )
    deployment.start(victim)


def stored(value: Any) -> Any:
    """An XCom value as the REST API gives it: the stored JSON, as a text or already parsed."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
