"""``SaturnClient``: the synchronous Saturn API client (``requests``), free of Airflow imports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying

from airflow_provider_saturn.client import options as option_checks
from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
from airflow_provider_saturn.client.defaults import DEFAULT_TIMEOUT, client_headers
from airflow_provider_saturn.client.errors import (
    SaturnNotFoundError,
)
from airflow_provider_saturn.client.responses import RequestTarget, decode, transport_error
from airflow_provider_saturn.client.retry import RetryPolicy
from airflow_provider_saturn.client.wire import Paths

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 100
ACTIVE_STATUSES = frozenset({"pending", "running"})


class SaturnClient:
    """A client for the Saturn Cloud API (generation 2, "resources") with the seed client's operations.

    From outside Saturn pass the URL and an API token; inside a Saturn resource ``SaturnClient()`` reads
    ``SATURN_BASE_URL`` (or ``BASE_URL``) and ``SATURN_TOKEN``. One keep-alive session serves every call;
    transient failures are retried according to ``retry``.

    :param url: the Saturn URL, e.g. ``https://app.community.saturnenterprise.io`` (a path prefix is kept).
    :param api_token: an API token, from ``<Saturn URL>/api/user/token``.
    :param timeout: seconds to wait for each HTTP request (connect and read).
    :param retry: the retry policy for dropped connections, timeouts, 429 and 5xx.
    """

    def __init__(
        self,
        url: str | None = None,
        api_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._credentials: SaturnCredentials = resolve_credentials(url, api_token)
        self.timeout = timeout
        self.retry_policy = retry or RetryPolicy()
        self._retry_settings = self.retry_policy.tenacity_kwargs()  # stateless parts, built once
        self._session = requests.Session()
        self._session.headers.update(client_headers(self._credentials.token))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._options: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The Saturn URL this client talks to, without a trailing slash."""
        return self._credentials.url

    def __repr__(self) -> str:
        return f"SaturnClient(url={self.url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> SaturnClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _send(self, target: RequestTarget, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One HTTP exchange, no retry: the decoded JSON body (``None`` when empty) or an exception."""
        try:
            response = self._session.request(
                target.method,
                self._credentials.endpoint(target.path),
                json=json,
                params=params,
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise transport_error(target, error) from None
        return decode(target, response.status_code, response.content, response.reason, response.headers)

    def _retrying(self, call: Callable[[], T]) -> T:
        """Run ``call`` under the retry policy; the last error is raised as it is once the policy gives up."""
        for attempt in Retrying(**self._retry_settings):
            with attempt:
                return call()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        resource: str = "resource",
        resource_id: str = "",
    ) -> Any:
        target = RequestTarget(method, path, resource, resource_id)
        return self._retrying(lambda: self._send(target, json=json, params=params))

    def _pages(self, path: str, field: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following ``next_key`` to the last page."""
        query: dict[str, Any] = {"page_size": PAGE_SIZE, **(params or {})}
        while True:
            page = self._request("GET", path, params=query)
            yield from page.get(field) or []
            next_key = page.get("next_key")
            if not next_key:
                return
            query = {**query, "next_key": next_key}

    # ------------------------------------------------------------------ info

    def get_status(self) -> dict[str, Any]:
        """``GET /api/status``: ``{"status", "version"}``; also a cheap check of URL and token."""
        return dict(self._request("GET", Paths.STATUS))

    @property
    def options(self) -> dict[str, Any]:
        """Options for workspace settings: ``sizes``, ``disk_space`` and ``auto_shutoff`` (fetched once)."""
        if self._options is None:
            self._options = dict(self._request("GET", Paths.OPTIONS))
        return self._options

    # ------------------------------------------------------------------ projects

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project (workspace) the token can see, across all pages."""
        return [wire.project_from_workspace(item) for item in self._pages(Paths.WORKSPACES, "workspaces")]

    def find_project_by_name(self, name: str) -> dict[str, Any] | None:
        """The project named exactly ``name``, or ``None``."""
        for item in self._pages(Paths.WORKSPACES, "workspaces", {"name": name}):
            if item.get("name") == name:
                return wire.project_from_workspace(item)
        return None

    def get_project(self, project_id: str) -> dict[str, Any]:
        """One project by id."""
        workspace = self._request("GET", Paths.workspace(project_id), resource="project", resource_id=project_id)
        return wire.project_from_workspace(workspace)

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
        workspace = self._create_once_only(
            send=lambda: dict(self._send(target, json=body)),
            find_earlier=lambda: self._find_without_retry(name),
        )
        return wire.project_from_workspace(workspace)

    def _create_once_only(
        self, send: Callable[[], dict[str, Any]], find_earlier: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Retry a create, but before each re-send look for what an attempt whose answer was lost made."""
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                earlier = find_earlier()
                if earlier is not None:
                    log.info("An earlier attempt already created it; not creating it again")
                    return earlier
            return send()

        return self._retrying(attempt)

    def _find_without_retry(self, name: str) -> dict[str, Any] | None:
        page = self._send(RequestTarget("GET", Paths.WORKSPACES), params={"name": name, "page_size": PAGE_SIZE})
        for item in page.get("workspaces") or []:
            if item.get("name") == name:
                return dict(item)
        if page.get("next_key"):  # rare: many names contain this one; walk the pages (with retries)
            return self.find_project_by_name(name)
        return None

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
        if image is not None and image_uri is not None and image != image_uri:
            raise option_checks.SaturnInvalidOptionError("Pass image_uri or its older name image, not both.")
        if image_uri is None:
            image_uri = image
        settings = wire.seed_settings(locals())
        self._validate_workspace_settings(settings)
        body = wire.workspace_body(settings)
        path = Paths.workspace(project_id)
        workspace = self._request("PATCH", path, json=body, resource="project", resource_id=project_id)
        # Saturn flags a running server whose settings changed with require_restart; the same values again
        # change nothing and leave it running.
        if (
            update_jupyter_server
            and workspace.get("require_restart")
            and wire.normalise_status(workspace.get("status")) in ACTIVE_STATUSES
        ):
            log.info("Stopping Jupyter server %s so that it restarts with the new settings", project_id)
            workspace = self._request(
                "POST", Paths.workspace(project_id, "stop"), resource="jupyter server", resource_id=project_id
            )
        return wire.project_from_workspace(workspace)

    def delete_project(self, project_id: str, *, allow_active: bool = False) -> None:
        """Delete a project. An active one is refused by Saturn unless ``allow_active=True``."""
        target = RequestTarget("DELETE", Paths.workspace(project_id), "project", project_id)
        params = {"allow_active": "true"} if allow_active else None
        attempts = 0

        def delete_once() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._send(target, params=params)
            except SaturnNotFoundError:
                if attempts == 1:
                    raise
                log.info("Project %s was deleted by an earlier attempt whose answer was lost", project_id)

        self._retrying(delete_once)

    def _validate_workspace_settings(self, settings: dict[str, Any]) -> None:
        option_checks.validate_local_settings(settings)
        if any(settings.get(key) is not None for key in ("jupyter_size", "jupyter_disk_space", "jupyter_auto_shutoff")):
            option_checks.validate_workspace_settings(self.options, settings)

    # ------------------------------------------------------------------ Jupyter servers

    def get_jupyter_server(self, jupyter_server_id: str) -> dict[str, Any]:
        """A Jupyter server (a generation-2 workspace): ``id``, ``status``, ``dask_cluster_id`` and the rest."""
        return self._resource_call("jupyter_server", "GET", jupyter_server_id)

    def start_jupyter_server(self, jupyter_server_id: str, debug_mode: bool = False) -> dict[str, Any]:
        """Ask Saturn to start a Jupyter server; returns at once (status ``pending``)."""
        body = {"debug_mode": True} if debug_mode else None
        return self._resource_call("jupyter_server", "POST", jupyter_server_id, "start", body)

    def stop_jupyter_server(self, jupyter_server_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a Jupyter server and its Dask cluster; returns at once (``stopping``)."""
        return self._resource_call("jupyter_server", "POST", jupyter_server_id, "stop")

    # ------------------------------------------------------------------ Dask clusters

    def get_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """A Dask cluster: ``id``, ``status`` and the rest."""
        return self._resource_call("dask_cluster", "GET", dask_cluster_id)

    def start_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """Ask Saturn to start a Dask cluster; returns at once (status ``pending``)."""
        return self._resource_call("dask_cluster", "POST", dask_cluster_id, "start")

    def stop_dask_cluster(self, dask_cluster_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a Dask cluster; returns at once (status ``stopping``)."""
        return self._resource_call("dask_cluster", "POST", dask_cluster_id, "stop")

    # ------------------------------------------------------------------ either kind, as waits need

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """A Jupyter server (``kind="jupyter_server"``) or Dask cluster (``"dask_cluster"``) by id."""
        return self._resource_call(kind, "GET", resource_id)

    def stop_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a Jupyter server or Dask cluster."""
        return self._resource_call(kind, "POST", resource_id, "stop")

    def _resource_call(
        self, kind: str, method: str, resource_id: str, action: str = "", body: Any = None
    ) -> dict[str, Any]:
        resource = wire.resource_wire(kind)
        path = resource.path(resource_id, action)
        answer = self._request(method, path, json=body, resource=resource.label, resource_id=resource_id)
        return resource.normalise(answer)

    def create_dask_cluster(
        self,
        project_id: str,
        n_workers: int | None = 1,
        worker_size: str | None = None,
        scheduler_size: str | None = None,
        nthreads: int | None = 2,
    ) -> dict[str, Any]:
        """Attach a new Dask cluster to a project's workspace. Sizes are checked against ``options`` first."""
        option_checks.validate_dask_counts(n_workers=n_workers, nthreads=nthreads)
        if worker_size is not None or scheduler_size is not None:
            option_checks.validate_dask_settings(self.options, worker_size=worker_size, scheduler_size=scheduler_size)
        body = wire.dask_cluster_body(
            project_id, n_workers=n_workers, worker_size=worker_size, scheduler_size=scheduler_size, nthreads=nthreads
        )
        target = RequestTarget("POST", Paths.DASK_CLUSTERS, "project", project_id)

        def find_earlier() -> dict[str, Any] | None:
            workspace = self._send(RequestTarget("GET", Paths.workspace(project_id), "project", project_id))
            cluster_id = wire.nested_dask_cluster_id(workspace)
            if not cluster_id:
                return None
            return dict(self._send(RequestTarget("GET", Paths.dask_cluster(cluster_id), "dask cluster", cluster_id)))

        cluster = self._create_once_only(send=lambda: dict(self._send(target, json=body)), find_earlier=find_earlier)
        return wire.dask_cluster_from_response(cluster)
