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
        self.id_argument = "dask_cluster_id" if dask_cluster_id is not None else "project_id"

    def expected_resource_id(self) -> str:
        if self.dask_cluster_id:
            return self.dask_cluster_id
        return str(self.hook.get_project(self.project_id)["dask_cluster_id"])

    def current_cluster(self, context: Context) -> dict[str, Any]:
        """The cluster as it is now (the id checked first); its project's ids and UI URL are pushed to XCom
        before any wait."""
        given = self.checked_id()
        if self.id_argument == "project_id":
            project = self.hook.get_project(given)
            if not project["dask_cluster_id"]:
                raise ValueError(f"Saturn project {given} has no Dask cluster")
            self.push_project(context, project)
            return self.hook.get_dask_cluster(project["dask_cluster_id"])
        cluster: dict[str, Any] = self.hook.get_dask_cluster(given)
        if cluster.get("workspace_id"):
            self.push_project(context, self.hook.get_project(cluster["workspace_id"]))
        return cluster


class SaturnStartDaskClusterOperator(_SaturnDaskClusterOperator):
    """Start a Dask cluster and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails at once with Saturn's message.
    Killed while waiting, or failed or timed out after it started the cluster, it stops the cluster it
    started (``stop_on_failure=False`` keeps it after a failure). No id fails at once.

    :param dask_cluster_id: the Dask cluster id. Templated.
    :param project_id: or the project whose cluster to start. Templated.
    :return: the cluster dict (secret fields as ``"***"``, see ``SaturnBaseOperator``).
    """

    target_status = "running"

    def execute(self, context: Context) -> dict[str, Any]:
        cluster = self.current_cluster(context)
        return self.start_and_wait(
            context, cluster["id"], cluster, partial(self.hook.start_dask_cluster, cluster["id"])
        )


class SaturnStopDaskClusterOperator(_SaturnDaskClusterOperator):
    """Stop a Dask cluster and, by default, wait until it is ``stopped``. Already stopped: succeeds at once.

    No id (the create upstream failed): a clean-up task (``trigger_rule="all_done"``) skips; with
    ``all_success`` the task fails at once.

    :param dask_cluster_id: the Dask cluster id. Templated.
    :param project_id: or the project whose cluster to stop. Templated.
    :return: the cluster dict (secret fields as ``"***"``, see ``SaturnBaseOperator``).
    """

    target_status = "stopped"
    skips_without_id = True

    def execute(self, context: Context) -> dict[str, Any]:
        cluster = self.current_cluster(context)
        return self.stop_and_wait(cluster["id"], cluster, partial(self.hook.stop_dask_cluster, cluster["id"]))
