"""Start and stop a Dask cluster, named by its id or by its project."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.operators.base import SaturnWaitingOperator

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

KIND = "dask_cluster"


class _SaturnDaskClusterOperator(SaturnWaitingOperator):
    """Names a Dask cluster by ``dask_cluster_id``, or by ``project_id`` (the project's attached cluster)."""

    template_fields: Sequence[str] = ("dask_cluster_id", "project_id", "saturn_conn_id")
    resource_kind = KIND

    def __init__(self, *, dask_cluster_id: str | None = None, project_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (dask_cluster_id is None) == (project_id is None):
            raise ValueError(f"{type(self).__name__} takes exactly one of dask_cluster_id and project_id")
        self.dask_cluster_id = dask_cluster_id
        self.project_id = project_id

    def expected_resource_id(self) -> str:
        if self.dask_cluster_id:
            return self.dask_cluster_id
        return str(self.hook.get_project(self.project_id)["dask_cluster_id"])

    def current_cluster(self, context: Context) -> dict[str, Any]:
        """The cluster as it is now; its project's ids and UI URL are pushed to XCom before any wait."""
        if self.project_id:
            project = self.hook.get_project(self.project_id)
            if not project["dask_cluster_id"]:
                raise ValueError(f"Saturn project {self.project_id} has no Dask cluster")
            self.push_project(context, project)
            return self.hook.get_dask_cluster(project["dask_cluster_id"])
        cluster: dict[str, Any] = self.hook.get_dask_cluster(self.dask_cluster_id)
        if cluster.get("workspace_id"):
            self.push_project(context, self.hook.get_project(cluster["workspace_id"]))
        return cluster


class SaturnStartDaskClusterOperator(_SaturnDaskClusterOperator):
    """Start a Dask cluster and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails at once with Saturn's message.
    Killed while waiting, it stops the cluster it started.

    :param dask_cluster_id: the Dask cluster id. Templated.
    :param project_id: or the project whose cluster to start. Templated.
    """

    target_status = "running"

    def execute(self, context: Context) -> dict[str, Any]:
        cluster = self.current_cluster(context)
        return self.start_and_wait(cluster["id"], cluster, partial(self.hook.start_dask_cluster, cluster["id"]))


class SaturnStopDaskClusterOperator(_SaturnDaskClusterOperator):
    """Stop a Dask cluster and, by default, wait until it is ``stopped``. Already stopped: succeeds at once.

    :param dask_cluster_id: the Dask cluster id. Templated.
    :param project_id: or the project whose cluster to stop. Templated.
    """

    target_status = "stopped"

    def execute(self, context: Context) -> dict[str, Any]:
        cluster = self.current_cluster(context)
        return self.stop_and_wait(cluster["id"], cluster, partial(self.hook.stop_dask_cluster, cluster["id"]))
