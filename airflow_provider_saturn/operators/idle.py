"""Scheduled shutdown: stop Jupyter servers and Dask clusters that have been left running."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.waiting import positive_seconds

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

ACTIVE = ("pending", "running")
NO_START_TIME = "Saturn gives no start time for it, so its age is unknown (stop it by hand, or exclude it)"


def _started_at(project: dict[str, Any]) -> datetime | None:
    """When Saturn says the server was last started; ``None`` when it does not say. Never guessed: the time
    of the last change (``updated_at``) is not a start time (an edit of the description moves it)."""
    value = project.get("started_at")
    if not value:
        return None
    try:
        started = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def _names(exclude: str | Iterable[str] | None) -> frozenset[str]:
    """The names and ids to keep: a string (as a template renders to) is one name, not its characters."""
    if exclude is None:
        return frozenset()
    if isinstance(exclude, str):
        return frozenset({exclude})
    return frozenset(str(name) for name in exclude)


class SaturnStopIdleResourcesOperator(SaturnBaseOperator):
    """Stop running Jupyter servers and Dask clusters left running, among the projects that match the filters.

    What a run stops, among the projects the connection's token can see whose name matches ``name_pattern``
    and that are not in ``exclude``:

    - a Jupyter server (``pending`` or ``running``) that Saturn says was started longer ago than
      ``older_than``, and with it its Dask cluster. One whose start time Saturn does not give is never
      stopped: it is reported with ``action="skipped"`` and the reason is logged;
    - a Dask cluster that runs while its Jupyter server does not, whatever its age.

    With the default ``name_pattern="*"`` that is every project the token can see. ``older_than`` has no
    default, so that no run stops what a colleague started a minute ago by accident.

    :param older_than: required: only servers started longer ago than this (seconds or ``timedelta``, > 0).
    :param name_pattern: only projects whose name matches this glob (default ``"*"``: all). Templated.
    :param exclude: project names or ids never to stop; a string is one name. Templated.
    :param dry_run: only report what would be stopped.
    :return: one dict per resource stopped (or, with ``dry_run``, to be stopped) or skipped: ``kind``,
        ``id``, ``project_id``, ``project_name``, ``action`` (``"stopped"``, ``"would stop"`` or
        ``"skipped"``) and ``reason``.
    """

    template_fields: Sequence[str] = ("name_pattern", "exclude", "saturn_conn_id")
    operator_extra_links = ()  # acts on many resources, not one page

    def __init__(
        self,
        *,
        older_than: float | timedelta,
        name_pattern: str = "*",
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.older_than = positive_seconds("older_than", older_than)
        self.name_pattern = name_pattern
        self.exclude = exclude  # normalised when the task runs: it may render to a string
        self.report_only = dry_run  # BaseOperator.dry_run is a method

    def execute(self, context: Context) -> list[dict[str, Any]]:
        excluded = _names(self.exclude)
        cutoff = datetime.now(UTC) - timedelta(seconds=self.older_than)
        report = []
        for project in self.hook.list_projects():
            if excluded & {project["id"], project["name"]}:
                continue
            if fnmatch.fnmatchcase(project["name"], self.name_pattern) and (verdict := _verdict(project, cutoff)):
                report.append(self._act(project, verdict))
        if not report:
            self.log.info("Nothing to stop")
        return report

    def _act(self, project: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
        """Stop (unless a dry run) or skip one resource; log it and return its report entry."""
        if not verdict.stop:
            action = "skipped"
        elif self.report_only:
            action = "would stop"
        else:
            action = "stopped"
            if verdict.kind == "jupyter_server":
                self.hook.stop_jupyter_server(verdict.id)
            else:
                self.hook.stop_dask_cluster(verdict.id)
        self.log.info(
            "%s %s %s of project %r: %s", action.capitalize(), verdict.kind, verdict.id, project["name"], verdict.reason
        )
        return {
            "kind": verdict.kind,
            "id": verdict.id,
            "project_id": project["id"],
            "project_name": project["name"],
            "action": action,
            "reason": verdict.reason,
        }


class Verdict(NamedTuple):
    """What to do with one resource of a project: stop it or (when its age is unknown) skip it, and why."""

    kind: str
    id: str
    stop: bool
    reason: str


def _verdict(project: dict[str, Any], cutoff: datetime) -> Verdict | None:
    """What to do with a matching project's resources; ``None``: nothing idle, nothing to report."""
    if project.get("status") in ACTIVE:
        started = _started_at(project)
        if started is None:
            return Verdict("jupyter_server", project["jupyter_server_id"], False, NO_START_TIME)
        if started > cutoff:
            return None  # started recently
        return Verdict("jupyter_server", project["jupyter_server_id"], True, f"started at {started.isoformat()}")
    if (project.get("dask_cluster") or {}).get("status") in ACTIVE and project["dask_cluster_id"]:
        return Verdict("dask_cluster", project["dask_cluster_id"], True, "it runs while its Jupyter server does not")
    return None
