"""Re-attaching a retried task to what an earlier try of it started or created, instead of doing it again.

A worker that dies while a task waits leaves the Saturn side going: the job run it started runs on, the
Jupyter server it started goes on starting, the project it created exists. The retry must follow that run, not
start a second one, must treat that server as its own (stop it on failure or kill), and must carry on with that
project rather than fail on its name. The task records what it started or created before it waits, on
Airflow 3.3+ in the task state store (``context["task_state_store"]``), which outlives the try, as Airflow's
``ResumableJobMixin`` does. A job run is recorded in two steps: just before the start is sent, the names of
the job's runs there were then (:func:`remember_job_start`); once the run is known, its name
(:func:`remember_job_run`). So a run that shows up only after the try gave up on identifying it (or after its
worker died) is found by a retry: the one run that is new since the recorded start.

Where there is no store (Airflow 2.11, 3.0-3.2), nothing outlives a try (Airflow 2 clears a try's XComs when
the next one begins), and Saturn's start carries no mark of who asked for it: a run that began in this DAG run
may as well be another DAG run's. So a retry never takes a job run it finds as its own (it starts a new one
and says which runs it leaves alone), and so never stops one. A created project or job is told by its name and
``created_at`` (:func:`created_by_earlier_try`).

What the earlier try started decides the retry: still going, follow it; completed, done; failed or gone,
start afresh (a retry is for trying again). A completed run counts only for one of Airflow's own retries: the
first try after a user cleared the task is a request to run it again, so it starts a new run (a run still
going is followed either way: two runs of one task at once are never wanted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_saturn.client.job_runs import job_run_key, parse_time
from airflow_provider_saturn.client.statuses import ACTIVE_STATUSES, COMPLETED

GOING_OR_DONE = ACTIVE_STATUSES | {COMPLETED}
CLOCK_SLACK = timedelta(seconds=2)
# The most run names a start records (a job that keeps more runs than that cannot have a late run found).
MAX_RECORDED_RUNS = 1000
# Renaming these keys breaks the re-attachment of retries already in flight.
JOB_RUN_KEY = "saturn_job_run"
STARTED_KEY = "saturn_started"
CREATED_KEY = "saturn_created"


def task_state_store(context: Any) -> Any:
    """The task state store of this try (Airflow 3.3+), or ``None``."""
    try:
        return context.get("task_state_store")
    except AttributeError:
        return None


@dataclass(frozen=True)
class RecordedJobRun:
    """What an earlier try recorded of the run it started: its name once known (``run_name``); before that,
    the names of the job's runs there were just before the start (``runs_before``; ``None`` when they were
    too many to record, or the record of them is damaged)."""

    run_name: str | None
    runs_before: frozenset[str] | None = None


def remember_job_start(context: Any, job_id: str, runs_before: set[str]) -> bool:
    """Record, just before a start is sent, the runs the job had; False when there is nowhere to record it."""
    store = task_state_store(context)
    if store is None:
        return False
    names = sorted(runs_before) if len(runs_before) <= MAX_RECORDED_RUNS else None
    store.set(JOB_RUN_KEY, {"job_id": job_id, "run_name": None, "runs_before": names})
    return True


def remember_job_run(context: Any, run: dict[str, Any]) -> bool:
    """Record the run this try started, before waiting on it; False when there is nowhere to record it.

    Its name is checked first (it came from Saturn): a name that cannot go into a URL is never recorded.
    """
    store = task_state_store(context)
    if store is None:
        return False
    job_run_key(run["job_id"], run["run_name"])
    store.set(JOB_RUN_KEY, {"job_id": run["job_id"], "run_name": run["run_name"]})
    return True


def forget_job_start(context: Any, job_id: str) -> None:
    """Record that this try's start of ``job_id`` left nothing for a retry to follow."""
    store = task_state_store(context)
    if store is not None:
        store.set(JOB_RUN_KEY, {"job_id": job_id, "run_name": None})


def recorded_job_run(context: Any, job_id: str) -> RecordedJobRun | None:
    """What an earlier try of this task recorded of the run it started of ``job_id``; ``None`` for nothing.

    A ``run_name`` that is a string is returned as it is, for the caller to check before any request.
    """
    store = task_state_store(context)
    saved = store.get(JOB_RUN_KEY) if store is not None else None
    if not isinstance(saved, dict) or saved.get("job_id") != job_id:
        return None
    if isinstance(saved.get("run_name"), str):
        return RecordedJobRun(saved["run_name"])
    if saved.get("run_name") is not None or "runs_before" not in saved:
        return None
    before = saved["runs_before"]
    if isinstance(before, list) and all(isinstance(name, str) for name in before):
        return RecordedJobRun(None, frozenset(before))
    return RecordedJobRun(None, None)


def _remember(context: Any, key: str, kind: str, resource_id: Any) -> None:
    """Record a resource of ``kind`` under ``key`` in the task state store, when there is one."""
    store = task_state_store(context)
    if store is not None:
        store.set(key, {"kind": kind, "id": resource_id})


def _recorded(store: Any, key: str, kind: str, resource_id: Any) -> bool:
    """Whether the store's record under ``key`` names this resource of ``kind``."""
    saved = store.get(key)
    return isinstance(saved, dict) and saved.get("kind") == kind and saved.get("id") == resource_id


def remember_started(context: Any, kind: str, resource_id: str) -> None:
    """Record that this try asked Saturn to start a resource, before waiting on it (Airflow 3.3+)."""
    _remember(context, STARTED_KEY, kind, resource_id)


def forget_started(context: Any, kind: str, resource_id: str) -> None:
    """Forget this task's start of a resource once its wait succeeded: what starts it later (another task, a
    user) is not this task's to stop, even when a later try of this task (its function failed, a clear) finds
    it starting."""
    store = task_state_store(context)
    if store is not None and _recorded(store, STARTED_KEY, kind, resource_id):
        store.set(STARTED_KEY, {})  # no record (the store takes no None)


def started_by_earlier_try(context: Any, kind: str, resource_id: str) -> bool:
    """Whether an earlier try of this task started the resource (as recorded in the task state store).

    A retry that finds the resource already starting then waits on it as its own: it stops it on failure or
    kill, as the try that started it would have. Without a store, a resource found starting is not this
    task's (it is never stopped by it).
    """
    store = task_state_store(context)
    return store is not None and _recorded(store, STARTED_KEY, kind, resource_id)


def _count(value: Any) -> int | None:
    """An Airflow try count as an int (a bool or anything else is no count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def follows_earlier_try(context: Any) -> bool:
    """Whether this try follows an earlier one of the same task instance (a retry, or a run after a clear)."""
    try_number = _count(getattr(context.get("ti"), "try_number", 1))
    return try_number is not None and try_number > 1


def remember_created(context: Any, kind: str, resource_id: str) -> None:
    """Record that this try created a resource, as soon as Saturn answers (Airflow 3.3+)."""
    _remember(context, CREATED_KEY, kind, resource_id)


def created_by_earlier_try(context: Any, kind: str, resource: dict[str, Any]) -> bool:
    """Whether an earlier try of this task created ``resource`` (found by its name).

    With a task state store, only its record counts. Without one (Airflow 2.11, 3.0-3.2), a later try takes
    a resource Saturn says was created since the DAG run started (``created_at``, with ``CLOCK_SLACK``).
    """
    store = task_state_store(context)
    if store is not None:
        return _recorded(store, CREATED_KEY, kind, resource.get("id"))
    if not follows_earlier_try(context):
        return False
    since, created = dag_run_started(context), parse_time(resource.get("created_at"))
    return since is not None and created is not None and created >= since - CLOCK_SLACK


def is_automatic_retry(context: Any, retries: Any) -> bool:
    """Whether this try is one of Airflow's retries of a failed try, not the first try of the task instance or
    the first after a user cleared it.

    Airflow's own rule (the task runner's ``get_first_reschedule_date``): a clear sets ``max_tries`` to the last
    try number plus ``retries``, so the first try of a series is ``max_tries - retries + 1``. Without
    ``max_tries`` (a hand-made context), any try after the first counts.
    """
    ti = context.get("ti")
    try_number = _count(getattr(ti, "try_number", 1))
    max_tries = _count(getattr(ti, "max_tries", None))
    task_retries = _count(retries)
    if try_number is None:
        return False
    if max_tries is not None and max_tries >= 0 and task_retries is not None:
        return try_number > max_tries - task_retries + 1
    return try_number > 1


def dag_run_started(context: Any) -> datetime | None:
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "logical_date", None)
    if isinstance(started, datetime):
        return started
    return parse_time(started) if isinstance(started, str) else None


def runs_since(runs: list[dict[str, Any]], since: datetime | None, statuses: frozenset[str]) -> list[dict[str, Any]]:
    """Runs in one of ``statuses`` that began at or after ``since`` (Saturn's start time; one without is left
    out). Saturn's times are to the second, and its clock is not Airflow's: ``CLOCK_SLACK`` is allowed."""
    earliest = since - CLOCK_SLACK if since is not None else None
    chosen = []
    for run in runs:
        started = parse_time(run.get("started_at"))
        if run.get("status") in statuses and started is not None and (earliest is None or started >= earliest):
            chosen.append(run)
    return chosen
