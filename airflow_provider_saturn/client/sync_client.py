"""``SaturnClient``: the synchronous Saturn API client (``requests``), free of Airflow imports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from tenacity import Retrying

from airflow_provider_saturn.client import options as option_checks
from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
from airflow_provider_saturn.client.deadline import AttemptDeadline, DeadlineAdapter
from airflow_provider_saturn.client.defaults import DEFAULT_TIMEOUT, checked_timeout, client_headers
from airflow_provider_saturn.client.errors import SaturnNotFoundError
from airflow_provider_saturn.client.paging import PageLimits, PageWalk
from airflow_provider_saturn.client.responses import Expect, RequestTarget, decode, exchange_failure
from airflow_provider_saturn.client.retry import RetryPolicy
from airflow_provider_saturn.client.wire import Paths

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures of an exchange that another attempt may not meet; every other requests error is a set-up problem.
TRANSIENT_REQUESTS_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
ACTIVE_STATUSES = frozenset({"pending", "running"})


class SaturnClient:
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

    def __init__(
        self,
        url: str | None = None,
        api_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        page_limits: PageLimits | None = None,
    ) -> None:
        self._credentials: SaturnCredentials = resolve_credentials(url, api_token)
        self.timeout = checked_timeout(timeout)
        self.retry_policy = retry or RetryPolicy()
        self.page_limits = page_limits or PageLimits()
        self._retry_settings = self.retry_policy.tenacity_kwargs()  # stateless parts, built once
        self._session = requests.Session()
        self._session.headers.update(client_headers(self._credentials.token))
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
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

    def _send(
        self,
        target: RequestTarget,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """One HTTP exchange, no retry, bounded as a whole by ``timeout``: the decoded answer (put in ``shape``)
        or an exception.

        Redirects are never followed. Every failure is a :class:`SaturnError`.
        """
        deadline = AttemptDeadline(self.timeout)
        try:
            with deadline:
                response = self._session.request(
                    target.method,
                    self._credentials.endpoint(target.path),
                    json=json,
                    params=params,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
        except requests.RequestException as error:
            raise exchange_failure(
                target,
                error,
                timed_out=deadline.expired or isinstance(error, requests.Timeout),
                transient=isinstance(error, TRANSIENT_REQUESTS_ERRORS),
                timeout=self.timeout,
                url=self.url,
                scheme_assumed=self._credentials.scheme_assumed,
            ) from None
        return decode(
            target,
            response.status_code,
            response.content,
            response.reason or "",
            response.headers,
            expect=expect,
            shape=shape,
        )

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
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """One request under the retry policy; a bad answer found by ``shape`` is retried like any transient."""
        target = RequestTarget(method, path, resource, resource_id)
        return self._retrying(lambda: self._send(target, json=json, params=params, expect=expect, shape=shape))

    def _pages(self, path: str, field: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following ``next_key`` to the last page, within ``page_limits``."""
        walk = PageWalk(path, field, params, self.page_limits)
        while walk.query is not None:
            yield from self._request("GET", path, params=walk.query, shape=walk.take)

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
            find_earlier=lambda: self._find_without_retry(name),
        )

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
        walk = PageWalk(Paths.WORKSPACES, "workspaces", {"name": name}, self.page_limits)
        for item in self._send(RequestTarget("GET", Paths.WORKSPACES), params=walk.query, shape=walk.take):
            if item.get("name") == name:
                return wire.project_from_workspace(item)
        if walk.query is not None:  # rare: many names contain this one; walk the pages (with retries)
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
        target = RequestTarget("DELETE", Paths.workspace(project_id), "project", project_id)
        params = {"allow_active": "true"} if allow_active else None
        attempts = 0

        def delete_once() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._send(target, params=params, expect="nothing")
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
        return self._request(
            method, path, json=body, resource=resource.label, resource_id=resource_id, shape=resource.normalise
        )

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
