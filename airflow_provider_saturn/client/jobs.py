"""Saturn Jobs through the synchronous client: define a job, start a run and know which run it is, follow it,
stop it, read its log.

Starting a job answers with the Job, not the run, and concurrent starts make concurrent runs. So
:meth:`JobOperations.start_job` lists the job's runs before it starts one and looks for the run that appeared
after (waiting a bounded time for a run that shows up late). Starts of the same job from one process are
taken one at a time, so each knows its run for sure; see :func:`~.job_runs.pick_own_run` for starts from
other processes at the same moment. The caller can record the runs there were before the start, just before
it is sent (``before_send``), so that a run that shows up only after identification gave up can still be
found later. The run's name is checked as soon as it is known: a run that cannot be named in a URL is given
up (:func:`~.job_runs.give_up_on_unusable_run`), never returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from airflow_provider_saturn.client import options as option_checks
from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.errors import SaturnError, SaturnTransientError
from airflow_provider_saturn.client.job_runs import (
    SaturnUnusableRunError,
    give_up_on_unusable_run,
    job_run_from_summary,
    job_run_key,
    new_runs,
    pick_own_run,
    unusable_name_problem,
)
from airflow_provider_saturn.client.logs import LogCursor, PageWanted, drive, read_steps
from airflow_provider_saturn.client.paths import Paths
from airflow_provider_saturn.client.responses import RequestTarget
from airflow_provider_saturn.client.sync_transport import SyncTransport

log = logging.getLogger(__name__)

# How long a start waits for its run to show up in the job's runs, and how often it looks.
RUN_IDENTIFY_SECONDS = 60.0
RUN_LOOK_INTERVAL = (0.2, 2.0)  # first, longest; it grows by half each time


__all__ = ["JobOperations", "SaturnRunNotIdentifiedError", "SaturnUnusableRunError"]


class SaturnRunNotIdentifiedError(SaturnError):
    """A job was started, but no new run of it showed up in time, so the provider cannot follow it."""


_start_locks: dict[tuple[str, str], threading.Lock] = {}
_start_locks_guard = threading.Lock()


def _start_lock(url: str, job_id: str) -> threading.Lock:
    """One lock per job of a Saturn: starts of the same job in this process go one at a time."""
    with _start_locks_guard:
        return _start_locks.setdefault((url, job_id), threading.Lock())


class JobOperations(SyncTransport):
    """Saturn Jobs: list, read, create, update, delete, start a run, follow it, stop it and read its log."""

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job the token can see, across all pages."""
        return [wire.job_from_response(item) for item in self._pages(Paths.JOBS, "jobs")]

    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job by id."""
        path = Paths.job(job_id)
        return self._request("GET", path, resource="job", resource_id=job_id, shape=wire.job_from_response)

    def find_job_by_name(self, name: str) -> dict[str, Any] | None:
        """The job named exactly ``name``, or ``None``."""
        return self._find_by_name(Paths.JOBS, "jobs", name, wire.job_from_response)

    def create_job(
        self,
        name: str,
        command: str,
        description: str | None = None,
        image_uri: str | None = None,
        instance_size: str | None = None,
        environment_variables: dict[str, str] | None = None,
        start_script: str | None = None,
        working_dir: str | None = None,
        scale: int | None = None,
        retries: int | None = None,
        tags: dict[str, str] | None = None,
        extra_packages: dict[str, Any] | None = None,
        config_files: dict[str, dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Create a job (Saturn's ``JobCreate``, under its own names). Settings are checked first, the size
        against ``options``. A retry after a lost answer never creates a second job: it looks for the name first.

        ``tags`` are ``{name: value}`` texts; ``extra_packages`` Saturn's ``ExtraPackages`` (``{"pip": "pandas
        pyarrow", "apt": ..., "conda": ...}``), installed when a pod starts; ``config_files`` files written to the
        pod's ``$HOME`` when it starts: ``{"<path under $HOME>": {"content": "...", "mode": "0600"}}``.
        """
        settings = wire.job_settings(locals())
        self._validate_job_settings(settings)
        body = wire.job_body(settings)
        target = RequestTarget("POST", Paths.JOBS, "job")
        return self._create_once_only(
            send=lambda: self._send(target, json=body, shape=wire.job_from_response),
            find_earlier=lambda: self._find_without_retry(Paths.JOBS, "jobs", name, wire.job_from_response),
        )

    def update_job(
        self,
        job_id: str,
        command: str | None = None,
        description: str | None = None,
        image_uri: str | None = None,
        instance_size: str | None = None,
        environment_variables: dict[str, str] | None = None,
        start_script: str | None = None,
        working_dir: str | None = None,
        scale: int | None = None,
        retries: int | None = None,
        tags: dict[str, str] | None = None,
        extra_packages: dict[str, Any] | None = None,
        config_files: dict[str, dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Change a job's settings (any ``create_job`` setting but ``name``); ``None`` leaves one as it is."""
        path = Paths.job(job_id)
        settings = wire.job_settings(locals())
        self._validate_job_settings(settings)
        body = wire.job_body(settings)
        return self._request("PATCH", path, json=body, resource="job", resource_id=job_id, shape=wire.job_from_response)

    def delete_job(self, job_id: str, *, allow_active: bool = False) -> None:
        """Delete a job. One with a run going is refused by Saturn unless ``allow_active=True``."""
        self._delete_once_only(Paths.job(job_id), "job", job_id, allow_active=allow_active)

    def _validate_job_settings(self, settings: dict[str, Any]) -> None:
        option_checks.validate_job_settings(settings, None)
        if settings.get("instance_size") is not None:
            option_checks.validate_job_settings(settings, self.options)

    # ------------------------------------------------------------------ runs

    def list_job_runs(self, job_id: str) -> list[dict[str, Any]]:
        """Every run of a job that Saturn still knows, oldest first: ``run_name``, ``status``, times, ``message``."""
        path = Paths.job(job_id, "runtimesummary")
        return [job_run_from_summary(job_id, summary) for summary in self._pages(path, "job_summaries")]

    def get_job_run(self, job_id: str, run_name: str) -> dict[str, Any]:
        """One run of a job: ``job_id``, ``run_name``, ``status`` (``completed`` when it succeeded), ``message``."""
        return self.get_resource("job_run", job_run_key(job_id, run_name))

    def stop_job(self, job_id: str) -> dict[str, Any]:
        """Stop every run of a job; returns the job."""
        path = Paths.job(job_id, "stop")
        return self._request("POST", path, resource="job", resource_id=job_id, shape=wire.job_from_response)

    def stop_job_run(self, job_id: str, run_name: str) -> dict[str, Any]:
        """Stop one run of a job (the job's other runs go on); returns the run as it is then."""
        return self.stop_resource("job_run", job_run_key(job_id, run_name))

    def start_job(
        self,
        job_id: str,
        debug_mode: bool = False,
        *,
        identify_within: float | None = None,
        before_send: Callable[[set[str]], None] | None = None,
        runs_before: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Start a run of a job; returns **the run it made**: ``job_id``, ``run_name``, ``status`` and the rest.

        The runs are listed before the start and after it, until a new one shows up (at most
        ``identify_within`` seconds, default ``RUN_IDENTIFY_SECONDS``). A start is never sent twice: after a
        failure that may have taken effect (a lost answer, a 5xx), the client looks for a new run first.
        ``before_send`` is called with the names of the runs there were, just before the start is sent.
        ``runs_before``: those names, when the caller knows them (a job it has just created has none), so that
        they are not listed.

        :raises SaturnRunNotIdentifiedError: no new run showed up in time.
        :raises SaturnUnusableRunError: the run Saturn made has a name that cannot go into a URL (the message
            says whether it was stopped).
        """
        path = Paths.job(job_id, "start")
        body = {"debug_mode": True} if debug_mode else None
        within = RUN_IDENTIFY_SECONDS if identify_within is None else identify_within
        with _start_lock(self.url, job_id):
            if runs_before is not None:
                before = set(runs_before)
            else:
                before = {run["run_name"] for run in self.list_job_runs(job_id) if run["run_name"] is not None}
            if before_send is not None:
                before_send(before)
            target = RequestTarget("POST", path, "job", job_id)
            found: list[dict[str, Any]] = []

            def earlier_start() -> dict[str, Any] | None:
                found[:] = self._wait_for_new_runs(job_id, before, within)
                return {"id": job_id} if found else None

            job = self._create_once_only(
                send=lambda: self._send(target, json=body, shape=wire.job_from_response), find_earlier=earlier_start
            )
            candidates = found or self._wait_for_new_runs(job_id, before, within)
        if not candidates:
            raise SaturnRunNotIdentifiedError(
                f"Saturn started job {job_id} (POST /api/jobs/{job_id}/start was sent), but no new run of it "
                f"showed up within {within:g}s, so it cannot be followed now. Look at the job's runs in Saturn."
            )
        run = pick_own_run(candidates, job)
        problem = unusable_name_problem(run["run_name"])
        if problem is not None:
            give_up_on_unusable_run(
                job_id, run["run_name"], problem, list_runs=self.list_job_runs, stop_job=self.stop_job
            )
        if len(candidates) > 1:
            log.warning(
                "Job %s got %d new runs at once (someone else started it too); following %s, the one whose "
                "start is closest to this one's",
                job_id,
                len(candidates),
                run["run_name"],
            )
        return run

    def _wait_for_new_runs(self, job_id: str, before: set[str], within: float) -> list[dict[str, Any]]:
        """The runs not in ``before``, looked for until some show up or ``within`` seconds have passed."""
        deadline = time.monotonic() + within
        pause, longest = RUN_LOOK_INTERVAL
        while True:
            try:
                fresh = new_runs(self.list_job_runs(job_id), before)
            except SaturnTransientError as error:
                log.warning("Could not list the runs of job %s (%s); looking again", job_id, error)
                fresh = []
            remaining = deadline - time.monotonic()
            if fresh or remaining <= 0:
                return fresh
            time.sleep(min(pause, remaining))
            pause = min(pause * 1.5, longest)

    # ------------------------------------------------------------------ logs

    def job_logs(self, job_id: str, run_name: str, since: LogCursor | None = None) -> Iterator[dict[str, Any]]:
        """The lines a run's pods wrote (``timestamp``, ``content``, ``pod_name``, ``container_name``), pod after
        pod, each in order, across pages, as each page arrives.

        ``since``, a :class:`~.logs.LogCursor` from an earlier call, moves with each line taken: pass the same
        cursor again to get only the lines written since, also after a call that failed or was stopped part
        way. Without it, the log is read from the start. One call sends at most ``MAX_LOG_REQUESTS_PER_READ``
        requests; the rest comes at the next call (see :mod:`~.logs`).
        """
        cursor = since if since is not None else LogCursor()
        history = self._request("GET", Paths.job(job_id, "history"), resource="job", resource_id=job_id)
        logs_path = Paths.job(job_id, "logs")
        steps = read_steps(history, run_name, cursor)
        page: dict[str, Any] | None = None
        while (step := drive(steps, page)) is not None:
            if isinstance(step, PageWanted):
                page = self._request("GET", logs_path, params=step.query, resource="job", resource_id=job_id)
            else:
                page = None
                yield step
