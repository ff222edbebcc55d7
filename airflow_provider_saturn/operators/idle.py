"""Scheduled shutdown: stop Jupyter servers and Dask clusters that have been left running."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.waiting import seconds

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

ACTIVE = ("pending", "running")


def _started_at(project: dict[str, Any]) -> datetime | None:
    """When the server was last started (or, where Saturn has not said, last changed)."""
    value = project.get("started_at") or project.get("updated_at")
    if not value:
        return None
    try:
        started = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return started if started.tzinfo else started.replace(tzinfo=UTC)


class SaturnStopIdleResourcesOperator(SaturnBaseOperator):
    """Stop running Jupyter servers and Dask clusters that match the filters.

    A Jupyter server is stopped (and with it its Dask cluster) when it was started longer ago than
    ``older_than``; one whose start time Saturn does not give is left alone, unless ``older_than`` is 0.
    A Dask cluster whose Jupyter server is not running is idle whatever its age, and is stopped on its own.

    :param name_pattern: only projects whose name matches this glob (default ``"*"``). Templated.
    :param older_than: only servers started longer ago than this (seconds or ``timedelta``; default 0).
    :param exclude: project names or ids never to stop. Templated.
    :param dry_run: only report what would be stopped.
    :return: one dict per resource: ``kind``, ``id``, ``project_id``, ``project_name``, ``action``.
    """

    template_fields: Sequence[str] = ("name_pattern", "exclude", "saturn_conn_id")
    operator_extra_links = ()  # acts on many resources, not one page

    def __init__(
        self,
        *,
        name_pattern: str = "*",
        older_than: float | timedelta = 0,
        exclude: Sequence[str] = (),
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if seconds(older_than) < 0:
            raise ValueError("older_than must not be negative")
        self.name_pattern = name_pattern
        self.older_than = seconds(older_than)
        self.exclude = list(exclude)
        self.report_only = dry_run  # BaseOperator.dry_run is a method

    def _selected(self, project: dict[str, Any]) -> bool:
        if project["id"] in self.exclude or project["name"] in self.exclude:
            return False
        return fnmatch.fnmatchcase(project["name"], self.name_pattern)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.older_than)
        action = "would stop" if self.report_only else "stopped"
        report: list[dict[str, Any]] = []
        for project in filter(self._selected, self.hook.list_projects()):
            entry = {"project_id": project["id"], "project_name": project["name"], "action": action}
            cluster_status = (project.get("dask_cluster") or {}).get("status")
            if project.get("status") in ACTIVE:
                started = _started_at(project)
                if self.older_than and (started is None or started > cutoff):
                    continue  # started recently, or no telling when: leave it
                if not self.report_only:
                    self.hook.stop_jupyter_server(project["jupyter_server_id"])
                report.append({**entry, "kind": "jupyter_server", "id": project["jupyter_server_id"]})
            elif cluster_status in ACTIVE and project["dask_cluster_id"]:
                if not self.report_only:
                    self.hook.stop_dask_cluster(project["dask_cluster_id"])
                report.append({**entry, "kind": "dask_cluster", "id": project["dask_cluster_id"]})
        for item in report:
            self.log.info("%s %s %s of project %r", item["action"], item["kind"], item["id"], item["project_name"])
        if not report:
            self.log.info("Nothing to stop")
        return report
