"""Job runs: how a run is named in a wait, read back from Saturn, and told apart from the runs of others.

Saturn's ``POST /api/jobs/{id}/start`` answers with the Job, not with the run it made, and concurrent starts
make concurrent runs. A run is known by its job and its name (``job_summaries[].name`` of
``/api/jobs/{id}/runtimesummary``); waits and triggers carry the pair as one key, ``"<job id>/<run name>"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from airflow_provider_saturn.client.errors import SaturnInvalidIdError
from airflow_provider_saturn.client.paths import path_segment
from airflow_provider_saturn.client.wire import normalise_status, shorten

RUN_KEY_SEPARATOR = "/"


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
    """
    run = dict(summary)
    run_name = summary.get("name")
    run["job_id"] = job_id
    run["run_name"] = run_name if isinstance(run_name, str) else None
    run["id"] = f"{job_id}{RUN_KEY_SEPARATOR}{run_name}" if run["run_name"] else None
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
