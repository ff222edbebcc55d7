"""``SaturnClient``: the synchronous Saturn API client (``requests``), free of Airflow imports."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_saturn.client import options as option_checks
from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.dask_access import DaskOperations
from airflow_provider_saturn.client.deployments import DeploymentOperations
from airflow_provider_saturn.client.jobs import JobOperations
from airflow_provider_saturn.client.responses import RequestTarget
from airflow_provider_saturn.client.statuses import ACTIVE_STATUSES
from airflow_provider_saturn.client.sync_transport import SyncTransport
from airflow_provider_saturn.client.wire import Paths

log = logging.getLogger(__name__)


class SaturnClient(JobOperations, DeploymentOperations, DaskOperations, SyncTransport):
    """A client for the Saturn Cloud API (generation 2, "resources") with the seed client's operations.

    From outside Saturn pass the URL and an API token; inside a Saturn resource ``SaturnClient()`` reads
    ``SATURN_BASE_URL`` (or ``BASE_URL``) and ``SATURN_TOKEN``. One keep-alive session serves every call;
    transient failures are retried according to ``retry``.

    :param url: the Saturn URL, e.g. ``https://app.community.saturnenterprise.io`` (a path prefix is kept).
    :param api_token: an API token, from ``<Saturn URL>/api/user/token``.
    :param timeout: seconds that each HTTP attempt may take as a whole, from connecting to the last byte.
    :param retry: the retry policy for dropped connections, timeouts, 429 and 5xx.
    :param page_limits: how many pages, and how long, one listing may take.

    Ids that go into URL paths are checked first (:class:`SaturnInvalidIdError`); redirects are refused,
    never followed (:class:`SaturnRedirectError`); every failure is a :class:`SaturnError`.
    """

    # ------------------------------------------------------------------ info

    def get_status(self) -> dict[str, Any]:
        """``GET /api/status``: ``{"status", "version"}``; also a cheap check of URL and token."""
        return dict(self._request("GET", Paths.STATUS))

    # ------------------------------------------------------------------ projects

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project (workspace) the token can see, across all pages."""
        return [wire.project_from_workspace(item) for item in self._pages(Paths.WORKSPACES, "workspaces")]

    def find_project_by_name(self, name: str) -> dict[str, Any] | None:
        """The project named exactly ``name``, or ``None``."""
        return self._find_by_name(Paths.WORKSPACES, "workspaces", name, wire.project_from_workspace)

    def get_project(self, project_id: str) -> dict[str, Any]:
        """One project by id."""
        path = Paths.workspace(project_id)
        return self._request("GET", path, resource="project", resource_id=project_id, shape=wire.project_from_workspace)

    def create_project(
        self,
        name: str,
        description: str | None = None,
        image_uri: str | None = None,
        start_script: str | None = None,
        environment_variables: dict[str, str] | None = None,
        working_dir: str | None = None,
        jupyter_size: str | None = None,
        jupyter_disk_space: str | None = None,
        jupyter_auto_shutoff: str | None = None,
        jupyter_start_ssh: bool | None = None,
    ) -> dict[str, Any]:
        """Create a project. Settings are checked against ``options`` before anything is sent.

        A retry after a lost answer never creates a second project: before sending again, the client
        looks for a project of that name and returns it when the first attempt did create it.
        """
        settings = wire.seed_settings(locals())
        self._validate_workspace_settings(settings)
        body = wire.workspace_body(settings)
        target = RequestTarget("POST", Paths.WORKSPACES, "project")
        return self._create_once_only(
            send=lambda: self._send(target, json=body, shape=wire.project_from_workspace),
            find_earlier=lambda: self._find_without_retry(
                Paths.WORKSPACES, "workspaces", name, wire.project_from_workspace
            ),
        )

    def update_project(
        self,
        project_id: str,
        description: str | None = None,
        image_uri: str | None = None,
        start_script: str | None = None,
        environment_variables: dict[str, str] | None = None,
        working_dir: str | None = None,
        jupyter_size: str | None = None,
        jupyter_disk_space: str | None = None,
        jupyter_auto_shutoff: str | None = None,
        jupyter_start_ssh: bool | None = None,
        update_jupyter_server: bool = True,
        *,
        image: str | None = None,
    ) -> dict[str, Any]:
        """Update a project's settings (any ``create_project`` setting but ``name``).

        With ``update_jupyter_server=True`` (the default), a running Jupyter server whose settings changed
        (Saturn says ``require_restart``) is stopped, and so is its Dask cluster, so that the next start uses
        the new settings. Sending the settings it already has stops nothing.
        ``image`` is accepted as the seed README's older name for ``image_uri``.
        """
        path = Paths.workspace(project_id)  # checks the id before anything is sent
        if image is not None and image_uri is not None and image != image_uri:
            raise option_checks.SaturnInvalidOptionError("Pass image_uri or its older name image, not both.")
        if image_uri is None:
            image_uri = image
        settings = wire.seed_settings(locals())
        self._validate_workspace_settings(settings)
        body = wire.workspace_body(settings)
        project: dict[str, Any] = self._request(
            "PATCH", path, json=body, resource="project", resource_id=project_id, shape=wire.project_from_workspace
        )
        # Saturn flags a running server whose settings changed with require_restart; the same values again
        # change nothing and leave it running.
        if update_jupyter_server and project.get("require_restart") is True and project["status"] in ACTIVE_STATUSES:
            log.info("Stopping Jupyter server %s so that it restarts with the new settings", project_id)
            project = self._request(
                "POST",
                Paths.workspace(project_id, "stop"),
                resource="jupyter server",
                resource_id=project_id,
                shape=wire.project_from_workspace,
            )
        return project

    def delete_project(self, project_id: str, *, allow_active: bool = False) -> None:
        """Delete a project. An active one is refused by Saturn unless ``allow_active=True``."""
        self._delete_once_only(Paths.workspace(project_id), "project", project_id, allow_active=allow_active)

    def _validate_workspace_settings(self, settings: dict[str, Any]) -> None:
        option_checks.validate_local_settings(settings)
        if any(settings.get(key) is not None for key in ("jupyter_size", "jupyter_disk_space", "jupyter_auto_shutoff")):
            option_checks.validate_workspace_settings(self.options, settings)

    # ------------------------------------------------------------------ Jupyter servers

    def get_jupyter_server(self, jupyter_server_id: str) -> dict[str, Any]:
        """A Jupyter server (a generation-2 workspace): ``id``, ``status``, ``dask_cluster_id`` and the rest."""
        return self.get_resource("jupyter_server", jupyter_server_id)

    def start_jupyter_server(self, jupyter_server_id: str, debug_mode: bool = False) -> dict[str, Any]:
        """Ask Saturn to start a Jupyter server; returns at once (status ``pending``)."""
        body = {"debug_mode": True} if debug_mode else None
        return self._resource_call("jupyter_server", "POST", jupyter_server_id, "start", body)

    def stop_jupyter_server(self, jupyter_server_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a Jupyter server and its Dask cluster; returns at once (``stopping``)."""
        return self.stop_resource("jupyter_server", jupyter_server_id)

    # ------------------------------------------------------------------ Dask clusters

    def get_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """A Dask cluster: ``id``, ``status`` and the rest."""
        return self.get_resource("dask_cluster", dask_cluster_id)

    def start_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """Ask Saturn to start a Dask cluster; returns at once (status ``pending``)."""
        return self._resource_call("dask_cluster", "POST", dask_cluster_id, "start")

    def stop_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a Dask cluster; returns at once (status ``stopping``)."""
        return self.stop_resource("dask_cluster", dask_cluster_id)

    def create_dask_cluster(
        self,
        project_id: str,
        n_workers: int | None = 1,
        worker_size: str | None = None,
        scheduler_size: str | None = None,
        nthreads: int | None = 2,
    ) -> dict[str, Any]:
        """Attach a new Dask cluster to a project's workspace. Sizes are checked against ``options`` first."""
        workspace_path = Paths.workspace(project_id)  # checks the id before anything is sent
        option_checks.validate_dask_counts(n_workers=n_workers, nthreads=nthreads)
        if worker_size is not None or scheduler_size is not None:
            option_checks.validate_dask_settings(self.options, worker_size=worker_size, scheduler_size=scheduler_size)
        body = wire.dask_cluster_body(
            project_id, n_workers=n_workers, worker_size=worker_size, scheduler_size=scheduler_size, nthreads=nthreads
        )
        target = RequestTarget("POST", Paths.DASK_CLUSTERS, "project", project_id)

        def find_earlier() -> dict[str, Any] | None:
            workspace = self._send(RequestTarget("GET", workspace_path, "project", project_id))
            cluster_id = wire.nested_dask_cluster_id(workspace)
            if not cluster_id:
                return None
            cluster_target = RequestTarget("GET", Paths.dask_cluster(cluster_id), "dask cluster", cluster_id)
            return self._send(cluster_target, shape=wire.dask_cluster_from_response)

        return self._create_once_only(
            send=lambda: self._send(target, json=body, shape=wire.dask_cluster_from_response),
            find_earlier=find_earlier,
        )
