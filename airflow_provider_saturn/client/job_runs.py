"""Job runs: how a run is named in a wait, read back from Saturn, and told apart from the runs of others.

Saturn's ``POST /api/jobs/{id}/start`` answers with the Job, not with the run it made, and concurrent starts
make concurrent runs. A run is known by its job and its name (``job_summaries[].name`` of
``/api/jobs/{id}/runtimesummary``); waits and triggers carry the pair as one key, ``"<job id>/<run name>"``.

A run name comes from Saturn, so it is checked where a start first receives it (:func:`unusable_name_problem`):
a run whose name cannot go into a URL cannot be read, followed or stopped by name. The run a start made with
such a name is given up by :func:`give_up_on_unusable_run`, which stops it only where that touches no other run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

from airflow_provider_saturn.client.errors import SaturnError, SaturnInvalidIdError
from airflow_provider_saturn.client.paths import path_segment
from airflow_provider_saturn.client.statuses import ACTIVE_STATUSES
from airflow_provider_saturn.client.wire import normalise_status, shorten

RUN_KEY_SEPARATOR = "/"
MAX_SHOWN_NAME = 80  # characters of a run name from Saturn in a message


class SaturnUnusableRunError(SaturnError):
    """A start made a run whose name (from Saturn) cannot name it in a URL, so it cannot be followed.

    The start **was** sent. The message names the run and says whether it was stopped: only by stopping the
    whole job, and only when the job had no other run going; else it was left running.

    :param job_id: the job started.
    :param run_name: the run's name as Saturn sent it.
    :param stopped: whether the run was stopped.
    """

    def __init__(self, message: str, *, job_id: str, run_name: object, stopped: bool) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.run_name = run_name
        self.stopped = stopped


def job_run_key(job_id: object, run_name: object) -> str:
    """The one-string id of a run, ``"<job id>/<run name>"``: each part checked as a path segment."""
    path_segment(job_id, "job_id")
    path_segment(run_name, "run_name")
    return f"{job_id}{RUN_KEY_SEPARATOR}{run_name}"


def split_job_run_key(key: object) -> tuple[str, str]:
    """``(job id, run name)`` from :func:`job_run_key`'s form; anything else is refused before any request."""
    if not isinstance(key, str) or key.count(RUN_KEY_SEPARATOR) != 1:
        raise SaturnInvalidIdError("job_run_id", key, "it must be '<job id>/<run name>'")
    job_id, run_name = key.split(RUN_KEY_SEPARATOR)
    path_segment(job_id, "job_id")
    path_segment(run_name, "run_name")
    return job_id, run_name


def unusable_name_problem(run_name: object) -> str | None:
    """Why a run name Saturn sent cannot name the run in a URL path, or ``None`` when it can."""
    try:
        path_segment(run_name, "run_name")
    except SaturnInvalidIdError as error:
        return error.problem
    return None


def shown_name(run_name: object) -> str:
    """A run name from Saturn as a message shows it: quoted, bounded."""
    return repr(shorten(run_name, MAX_SHOWN_NAME)) if isinstance(run_name, str) else repr(type(run_name).__name__)


def give_up_on_unusable_run(
    job_id: str,
    run_name: object,
    problem: str,
    *,
    list_runs: Callable[[str], list[dict[str, Any]]],  # the job's runs, as ``list_job_runs`` gives them
    stop_job: Callable[[str], object],
) -> NoReturn:
    """Stop a run this task started but cannot follow (its name is unusable), where that touches no other run;
    then raise :class:`SaturnUnusableRunError` saying what was sent and what was done.

    Saturn stops a single run only by its name in the URL, so the one way left is to stop the whole job,
    which stops every run of it: done only when the job's runs, listed just before, show no other run pending
    or running. (A run started by someone else between that listing and the stop would be stopped too: Saturn
    offers no stop that is conditional on the runs. The window is one request long.)
    """
    shown = shown_name(run_name)
    said = (
        f"Saturn started a run of job {job_id} (POST /api/jobs/{job_id}/start was sent) and named it {shown}, "
        f"which cannot name a run in a URL ({problem}): the run cannot be followed."
    )
    try:
        others = [
            run for run in list_runs(job_id) if run.get("status") in ACTIVE_STATUSES and run.get("run_name") != run_name
        ]
        if others:
            what = (
                f"It was left running: the job has {len(others)} other run(s) going, which stopping the whole job "
                "would stop too (Saturn stops a single run only by its name). Stop it in Saturn."
            )
            stopped = False
        else:
            stop_job(job_id)
            what, stopped = "It was stopped, by stopping the job, which had no other run going.", True
    except SaturnError as error:
        what, stopped = f"It could not be stopped ({type(error).__name__}: {error}); stop it in Saturn.", False
    raise SaturnUnusableRunError(f"{said} {what}", job_id=job_id, run_name=run_name, stopped=stopped)


def run_message(summary: dict[str, Any]) -> str | None:
    """Saturn's words about how a run went: the messages of its conditions (e.g. "Command exited with code 3")."""
    conditions = summary.get("conditions")
    if not isinstance(conditions, list):
        return None
    messages = [str(item["message"]) for item in conditions if isinstance(item, dict) and item.get("message")]
    return shorten("; ".join(messages)) if messages else None


def job_run_from_summary(job_id: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A run as the provider returns it: ``id`` (the run key), ``job_id``, ``run_name``, ``status`` and times.

    Everything Saturn sent stays, under the same names; ``message`` holds Saturn's words when it gave some.
    A run whose name cannot go into a URL keeps it in ``run_name`` (to be told apart) but has no ``id``.
    """
    run = dict(summary)
    run_name = summary.get("name")
    run["job_id"] = job_id
    run["run_name"] = run_name if isinstance(run_name, str) else None
    usable = run["run_name"] is not None and unusable_name_problem(run_name) is None
    run["id"] = f"{job_id}{RUN_KEY_SEPARATOR}{run_name}" if usable else None  # no key from a name a URL refuses
    run["status"] = normalise_status(summary.get("status"))
    run["message"] = run_message(summary)
    return run


def parse_time(value: Any) -> datetime | None:
    """A timestamp Saturn sent, as an aware datetime; ``None`` when absent or unreadable (never guessed)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_runs(runs: Iterable[dict[str, Any]], before: set[str]) -> list[dict[str, Any]]:
    """The runs whose names were not there before a start, oldest first (by Saturn's start time, then name)."""
    fresh = [run for run in runs if run.get("run_name") and run["run_name"] not in before]
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(fresh, key=lambda run: (parse_time(run.get("started_at")) or far_future, run["run_name"]))


def pick_own_run(candidates: list[dict[str, Any]], job: dict[str, Any]) -> dict[str, Any]:
    """The run a start made, among the runs that appeared after it (``candidates``, oldest first, not empty).

    One candidate is the run. Several mean that someone else started the job at the same time: the one whose
    start time is closest to the ``last_deploy`` of the Job this start answered with is taken (ties: the
    oldest). The caller logs the choice; the README documents the limit.
    """
    if len(candidates) == 1:
        return candidates[0]
    deployed = parse_time(job.get("last_deploy"))
    if deployed is None:
        return candidates[0]

    def distance(run: dict[str, Any]) -> float:
        started = parse_time(run.get("started_at"))
        return abs((started - deployed).total_seconds()) if started else float("inf")

    return min(candidates, key=distance)
