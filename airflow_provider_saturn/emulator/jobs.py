"""Saturn jobs: their settings and their runs (see ``runs.py``), behind the state's lock.

A start makes a new run (concurrent starts make concurrent runs); a stop stops every active run, or one.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.emulator.active_index import ActiveIndex, next_seq
from airflow_provider_saturn.emulator.lifecycle import EmulatorError, Timing, timestamp
from airflow_provider_saturn.emulator.live_runs import LiveRun
from airflow_provider_saturn.emulator.naming import UniqueNames, apply_changes
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, default_owner
from airflow_provider_saturn.emulator.pods import Pod
from airflow_provider_saturn.emulator.runs import RUN_ACTIVE, RunRecord
from airflow_provider_saturn.emulator.script import parse

if TYPE_CHECKING:
    from airflow_provider_saturn.emulator.runner import JobRunner

JobRun = RunRecord | LiveRun
"""A run as the endpoints see it: scripted (``runs.py``), or run for real in runner mode (``live_runs.py``)."""


@dataclass
class JobRecord:
    id: str
    name: str
    settings: dict[str, Any]
    created_at: str
    updated_at: str
    runs: list[JobRun] = field(default_factory=list)
    last_deploy: str | None = None
    debug_mode: bool = False
    require_restart: bool = False
    owner: Owner = field(default_factory=default_owner)
    seq: int = field(default_factory=next_seq)

    @property
    def k8s_name(self) -> str:
        return f"job-{self.id[:12]}"

    def is_active(self, now: float) -> bool:
        """Whether a run is pending or running, as ``status`` shows it."""
        return any(run.status(now) in RUN_ACTIVE for run in self.runs)

    def status(self, now: float) -> str:
        """``running`` if a run runs, else ``pending`` if one waits, else its latest run's; ``stopped`` if none."""
        statuses = [run.status(now) for run in self.runs]
        for status in ("running", "pending"):
            if status in statuses:
                return status
        return statuses[-1] if statuses else "stopped"

    def active_runs(self, now: float) -> list[JobRun]:
        return [run for run in self.runs if run.status(now) in RUN_ACTIVE]

    def visible_runs(self, now: float) -> list[JobRun]:
        """The runs that runtime summaries, history and active pods show (see ``run_visibility_delay``)."""
        return [run for run in self.runs if run.is_visible(now)]

    def run(self, run_name: str) -> JobRun:
        for run in self.runs:
            if run.name == run_name:
                return run
        raise EmulatorError(404, f"Job run {run_name} not found")


class JobStore:
    """Every job of one emulator; callers hold the state's lock. A start notes the job in ``active``.

    :param runner: set in runner mode (``SaturnEmulator(run_commands=True)``): runs are run for real by it.
    """

    def __init__(self, timing: Timing, active: ActiveIndex | None = None) -> None:
        self.timing = timing
        self.active = active if active is not None else ActiveIndex()
        self.records: dict[str, JobRecord] = {}
        self.names = UniqueNames("job")
        self.runs: dict[str, tuple[JobRecord, JobRun]] = {}  # run name -> its job and itself
        self.runner: JobRunner | None = None

    def get(self, job_id: str) -> JobRecord:
        record = self.records.get(job_id)
        if record is None:
            raise EmulatorError(404, f"Job {job_id} not found")
        return record

    def listing(self) -> list[JobRecord]:
        return list(self.records.values())

    def create(self, name: str, settings: dict[str, Any], owner: Owner = DEFAULT_OWNER) -> JobRecord:
        now = timestamp()
        record = JobRecord(
            id=uuid.uuid4().hex, name=name, settings=settings, created_at=now, updated_at=now, owner=owner
        )
        self.names.claim(name, record.id)
        self.records[record.id] = record
        return record

    def update(self, job_id: str, changes: dict[str, Any]) -> JobRecord:
        record = self.get(job_id)
        apply_changes(record, self.names, changes, active=bool(record.active_runs(self.timing.now())))
        return record

    def delete(self, job_id: str, allow_active: bool) -> None:
        record = self.get(job_id)
        active = record.active_runs(self.timing.now())
        if active and not allow_active:
            raise EmulatorError(
                409, f"Job {job_id} has {len(active)} active run(s): stop it first or pass allow_active=true"
            )
        for run in record.runs:
            run.stop(self.timing.now())  # a live run's processes end with its job
            self.runs.pop(run.name, None)
        del self.records[job_id]
        del self.names[record.name]

    def start(self, job_id: str, debug_mode: bool = False, scripted: bool = False) -> JobRecord:
        """Make a new run of the job's current command and settings: run for real in runner mode, unless
        ``scripted`` (a seeded run), else played from its script."""
        record = self.get(job_id)
        timing = self.timing
        now = timing.now()
        number = len(record.runs) + 1
        name, uid = f"{record.k8s_name}-{number:04d}-{secrets.token_hex(3)}", str(uuid.uuid4())
        run: JobRun
        if self.runner is not None and not scripted:
            run = self.runner.start_run(
                job_id=record.id,
                owner=record.owner,
                settings=record.settings,
                name=name,
                uid=uid,
                number=number,
                now=now,
                visible_from=now + timing.run_visibility_delay,
                transition=timing.transition_seconds,
            )
        else:
            run = RunRecord(
                name=name,
                uid=uid,
                number=number,
                job_id=record.id,
                script=parse(record.settings["command"]),
                scale=record.settings.get("scale") or 1,
                retries=record.settings.get("retries") or 0,
                started=now,
                transition=timing.transition_seconds,
                visible_from=now + timing.run_visibility_delay,
            )
        record.runs.append(run)
        self.runs[run.name] = (record, run)
        record.last_deploy = timing.stamp(now)
        record.debug_mode = debug_mode
        record.require_restart = False
        self.active.add("job", record.seq, record.id)
        return record

    def backdate(self, job_id: str, moment: float) -> None:
        """Move the start of each active run of the job to ``moment`` (monotonic seconds); a 409 if none."""
        record = self.get(job_id)
        now = self.timing.now()
        runs = [run for run in record.runs if run.stopped is None and run.status(now) in RUN_ACTIVE]
        if not runs:
            raise EmulatorError(409, f"Job {job_id} has no pending or running run")
        for run in runs:
            run.visible_from += moment - run.started
            run.started = moment
        record.last_deploy = self.timing.stamp(moment)

    def stop(self, job_id: str, run_name: str | None = None) -> JobRecord:
        """Stop every active run of the job, or only ``run_name``; a run that ended stays as it is."""
        record = self.get(job_id)
        now = self.timing.now()
        for run in [record.run(run_name)] if run_name is not None else record.runs:
            run.stop(now)
        return record

    def report_status(self, job_id: str, run_name: str, status: str | None) -> JobRun:
        """Make Saturn report ``status`` for one run of the job from now on (``None``: its own again); a test
        control for statuses Saturn may spell otherwise (``Completed``, ``failed``) or not know."""
        run = self.get(job_id).run(run_name)
        run.reported_status = status
        return run

    def pod(self, name: str) -> tuple[JobRun, Pod] | None:
        """The pod named ``name`` of a visible run, and its run; ``None`` if there is none."""
        run_name, _, _ = name.rpartition("-")
        if run_name not in self.runs:
            return None
        now = self.timing.now()
        _, run = self.runs[run_name]
        if not run.is_visible(now):
            return None
        return next(((run, pod) for pod in run.pods(now) if pod.name == name), None)

    def clear(self) -> None:
        now = self.timing.now()
        for record in self.records.values():
            for run in record.runs:
                run.stop(now)  # a live run's processes end with it
        self.records.clear()
        self.names.clear()
        self.runs.clear()
