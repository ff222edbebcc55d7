"""The emulator's HTTP API: Saturn generation-2 endpoints the provider and Saturn's own clients use.

Starlette app; errors are ``{"message": ...}`` JSON with Saturn's status codes. Workspaces and Dask clusters
are served from here; what a Dask client needs of a cluster (``/info``, ``/csr``, ``/scale``), jobs,
deployments, active resources and pods, and metrics from the ``routes_*`` modules. Each API token acts as an
owner (``owners.py``): handlers read it with ``handlers.identity``.
Test-only controls live under ``/_emulator`` (no token needed): fail a resource, set faults, settings,
reset, read statistics, seed resources, script metrics, backdate a start.

Every request body is read in full (at most ``MAX_BODY_BYTES``, else a 413) before the state lock is taken;
handlers are plain functions of the request and its parsed body, so that nothing awaits under the lock.
A route whose body is not JSON (a PEM CSR) gets the raw bytes instead (``raw_api``), read the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.faults import FaultPlan, FaultSettings
from airflow_provider_saturn.emulator.handlers import IDENTITY_SCOPE_KEY, Endpoint, Handler, flag, page
from airflow_provider_saturn.emulator.metrics_script import parse_metrics_script
from airflow_provider_saturn.emulator.owners import Owner
from airflow_provider_saturn.emulator.render import dask_cluster_json, workspace_json
from airflow_provider_saturn.emulator.routes_active import active_routes
from airflow_provider_saturn.emulator.routes_dask import RawHandler, dask_routes
from airflow_provider_saturn.emulator.routes_deployments import deployment_routes
from airflow_provider_saturn.emulator.routes_jobs import job_routes
from airflow_provider_saturn.emulator.routes_metrics import metrics_routes
from airflow_provider_saturn.emulator.seeding import parse_seed, seed
from airflow_provider_saturn.emulator.state import KINDS, EmulatorError, SaturnState
from airflow_provider_saturn.emulator.validation import (
    parse_dask_cluster_create,
    parse_workspace_create,
    parse_workspace_update,
)

FAILABLE_KINDS = ("workspace", "dask_cluster", "deployment")
MAX_BODY_BYTES = 1024 * 1024
"""The largest request body the emulator reads; a larger one is refused with a 413."""


class DroppedConnection(Exception):
    """Raised after the response headers went out, so that the server closes the connection mid-answer."""


@dataclass
class EmulatorStats:
    """What the emulator has seen: requests by route, distinct client TCP connections."""

    requests: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    connections: set[tuple[str, int]] = field(default_factory=set)
    faults: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "connections": len(self.connections),
            "faults": dict(self.faults),
        }


@dataclass
class EmulatorConfig:
    """Everything an emulator instance is made of.

    :param tokens: the API tokens accepted, and the owner each acts as.
    """

    tokens: Mapping[str, Owner]
    expired_tokens: frozenset[str] = frozenset()
    state: SaturnState = field(default_factory=SaturnState)
    faults: FaultPlan = field(default_factory=FaultPlan)
    stats: EmulatorStats = field(default_factory=EmulatorStats)
    path_prefix: str = ""  # serve under e.g. "/saturn", as behind a reverse proxy


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status_code, headers=headers)


def _too_large() -> EmulatorError:
    return EmulatorError(413, f"Request body is larger than the emulator's limit of {MAX_BODY_BYTES} bytes")


def _declared_length(request: Request) -> int | None:
    """The ``Content-Length`` the client announced, if any (the server has already rejected malformed ones)."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


async def _read_body(request: Request) -> bytes:
    """The whole body, refused with a 413 once it is known to exceed ``MAX_BODY_BYTES``.

    A ``Content-Length`` over the limit is refused before reading anything; a body of unannounced length
    (chunked) is read until it passes the limit, and no further.
    """
    declared = _declared_length(request)
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    received = 0
    try:
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                received += len(chunk)
                if received > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
    except ClientDisconnect:
        raise EmulatorError(400, "The client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _parse_json_body(raw: bytes, *, required: bool) -> dict[str, Any]:
    """The JSON object in ``raw``, whatever the Content-Type (generation-1 clients send none); {} if empty."""
    if not raw.strip():
        if required:
            raise EmulatorError(422, "Request body is required")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise EmulatorError(422, f"Request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise EmulatorError(422, "Request body must be a JSON object")
    return body


async def _read_json_body(request: Request, *, required: bool) -> dict[str, Any]:
    """The request's JSON body, read in full and parsed; call it before taking the state lock."""
    return _parse_json_body(await _read_body(request), required=required)


async def _run_locked(request: Request, state: SaturnState, handler: Handler, *, body_required: bool) -> Any:
    """Read and parse the whole body, then run ``handler`` under the state lock.

    The lock is taken only once the body is in: a client that uploads slowly holds up no one else.
    """
    body = await _read_json_body(request, required=body_required)
    with state.lock:
        return handler(request, body)


def _refusal_headers(error: EmulatorError) -> dict[str, str] | None:
    """A 413 leaves the rest of the body unread: close the connection rather than read it."""
    return {"Connection": "close"} if error.status_code == 413 else None


def build_app(config: EmulatorConfig) -> Starlette:
    """The Starlette app serving one emulator's state."""
    state = config.state

    def api(handler: Handler, status_code: int = 200, *, body_required: bool = False) -> Endpoint:
        """An endpoint: check the token, read and parse the body, then run ``handler`` under the state lock."""

        async def endpoint(request: Request) -> Response:
            refused = _identify(request, config)
            if refused is not None:
                return refused
            try:
                result = await _run_locked(request, state, handler, body_required=body_required)
            except EmulatorError as error:
                return _error(error.status_code, error.message, _refusal_headers(error))
            if result is None:
                return Response(status_code=204)
            return JSONResponse(result, status_code=status_code, headers={"X-Saturn-Version": catalog.API_VERSION})

        return endpoint

    def raw_api(handler: RawHandler, media_type: str) -> Endpoint:
        """An endpoint whose body is not JSON: check the token, read the whole body (bounded as every body is),
        then run ``handler`` on its bytes under the state lock; its bytes are the answer's."""

        async def endpoint(request: Request) -> Response:
            refused = _identify(request, config)
            if refused is not None:
                return refused
            try:
                raw = await _read_body(request)
                with state.lock:
                    result = handler(request, raw)
            except EmulatorError as error:
                return _error(error.status_code, error.message, _refusal_headers(error))
            return Response(result, media_type=media_type, headers={"X-Saturn-Version": catalog.API_VERSION})

        return endpoint

    def status(request: Request, body: dict[str, Any]) -> Any:
        return {"status": "ok", "version": catalog.API_VERSION}

    def options(request: Request, body: dict[str, Any]) -> Any:
        return catalog.server_options()

    def list_workspaces(request: Request, body: dict[str, Any]) -> Any:
        query = request.query_params
        items = state.list_workspaces()
        if query.get("name"):
            items = [record for record in items if query["name"] in record.name]
        return page(query, items, "workspaces", lambda record: workspace_json(record, state))

    def create_workspace(request: Request, body: dict[str, Any]) -> Any:
        name, settings = parse_workspace_create(body)
        return workspace_json(state.create_workspace(name, settings), state)

    def get_workspace(request: Request, body: dict[str, Any]) -> Any:
        return workspace_json(state.workspace(request.path_params["id"]), state)

    def update_workspace(request: Request, body: dict[str, Any]) -> Any:
        changes = parse_workspace_update(body)
        return workspace_json(state.update_workspace(request.path_params["id"], changes), state)

    def delete_workspace(request: Request, body: dict[str, Any]) -> Any:
        state.delete_workspace(request.path_params["id"], flag(request.query_params, "allow_active"))
        return None

    def start_workspace(request: Request, body: dict[str, Any]) -> Any:
        debug_mode = body.get("debug_mode", False)
        if not isinstance(debug_mode, bool):
            raise EmulatorError(422, "debug_mode: must be a boolean")
        return workspace_json(state.start_workspace(request.path_params["id"], debug_mode), state)

    def stop_workspace(request: Request, body: dict[str, Any]) -> Any:
        return workspace_json(state.stop_workspace(request.path_params["id"]), state)

    def list_dask_clusters(request: Request, body: dict[str, Any]) -> Any:
        items = list(state.dask_clusters.values())
        for record in items:
            state.dask_cluster(record.id)
        return page(request.query_params, items, "dask_clusters", lambda record: dask_cluster_json(record, state))

    def create_dask_cluster(request: Request, body: dict[str, Any]) -> Any:
        workspace_id, settings = parse_dask_cluster_create(body)
        return dask_cluster_json(state.create_dask_cluster(workspace_id, settings), state)

    def get_dask_cluster(request: Request, body: dict[str, Any]) -> Any:
        return dask_cluster_json(state.dask_cluster(request.path_params["id"]), state)

    def start_dask_cluster(request: Request, body: dict[str, Any]) -> Any:
        return dask_cluster_json(state.start_dask_cluster(request.path_params["id"]), state)

    def stop_dask_cluster(request: Request, body: dict[str, Any]) -> Any:
        return dask_cluster_json(state.stop_dask_cluster(request.path_params["id"]), state)

    routes = [
        Route("/api/status", api(status), methods=["GET"]),
        Route("/api/info/servers", api(options), methods=["GET"]),
        Route("/api/workspaces", api(list_workspaces), methods=["GET"]),
        Route("/api/workspaces", api(create_workspace, 201, body_required=True), methods=["POST"]),
        Route("/api/workspaces/{id}", api(get_workspace), methods=["GET"]),
        Route("/api/workspaces/{id}", api(update_workspace, body_required=True), methods=["PATCH"]),
        Route("/api/workspaces/{id}", api(delete_workspace), methods=["DELETE"]),
        Route("/api/workspaces/{id}/start", api(start_workspace), methods=["POST"]),
        Route("/api/workspaces/{id}/stop", api(stop_workspace), methods=["POST"]),
        Route("/api/dask_clusters", api(list_dask_clusters), methods=["GET"]),
        Route("/api/dask_clusters", api(create_dask_cluster, 201, body_required=True), methods=["POST"]),
        Route("/api/dask_clusters/{id}", api(get_dask_cluster), methods=["GET"]),
        Route("/api/dask_clusters/{id}/start", api(start_dask_cluster), methods=["POST"]),
        Route("/api/dask_clusters/{id}/stop", api(stop_dask_cluster), methods=["POST"]),
        *dask_routes(state, api, raw_api),
        *job_routes(state, api),
        *deployment_routes(state, api),
        *active_routes(state, api),
        *metrics_routes(state, api),
        *_control_routes(config),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, _not_found)
    app.add_exception_handler(405, _method_not_allowed)
    return _with_faults_and_stats(app, config)  # type: ignore[return-value]


def _identify(request: Request, config: EmulatorConfig) -> Response | None:
    """Note in the request who its token acts as; the 401 answer when it acts as no one."""
    identity = _check_token(request, config)
    if isinstance(identity, Response):
        return identity
    request.scope[IDENTITY_SCOPE_KEY] = identity
    return None


def _check_token(request: Request, config: EmulatorConfig) -> Owner | Response:
    """The owner the request's token acts as, or the 401 answer."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        return _error(401, "Missing or malformed Authorization header: expected 'token <API token>'")
    token = token.strip()
    if token in config.expired_tokens:
        return _error(401, "Token has expired")
    owner = config.tokens.get(token)
    if owner is None:
        return _error(401, "Invalid token")
    return owner


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, f"No route {request.url.path}")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, f"Method {request.method} not allowed on {request.url.path}")


def _control_routes(config: EmulatorConfig) -> list[Route]:
    """Test controls (no token): each reads its body first, then acts under the state lock."""
    state = config.state

    def control(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                result = await _run_locked(request, state, handler, body_required=False)
            except EmulatorError as error:
                return _error(error.status_code, error.message, _refusal_headers(error))
            return JSONResponse(result)

        return endpoint

    def fail(request: Request, body: dict[str, Any]) -> Any:
        kind = body.get("kind", "workspace")
        if kind not in FAILABLE_KINDS:
            raise EmulatorError(422, f"kind: one of {list(FAILABLE_KINDS)}")
        if "id" not in body:
            raise EmulatorError(422, "id: required")
        state.fail(kind, str(body["id"]), str(body.get("message", "Emulated failure")))
        return {"failed": body["id"]}

    def faults(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "POST":
            try:
                config.faults.configure(FaultSettings(**body))
            except (TypeError, ValueError) as error:
                raise EmulatorError(422, str(error)) from None
        return config.faults.describe()

    def settings(request: Request, body: dict[str, Any]) -> Any:
        """``transition_seconds`` and ``run_visibility_delay``: read (GET) or change (POST)."""
        if request.method == "POST":
            try:
                return state.configure(**body)
            except ValueError as error:
                raise EmulatorError(422, str(error)) from None
        return state.settings()

    def stats(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "DELETE":
            config.stats.requests = 0
            config.stats.by_route.clear()
            config.stats.connections.clear()
            config.stats.faults.clear()
        return config.stats.as_dict()

    def seed_resources(request: Request, body: dict[str, Any]) -> Any:
        """Make many resources at once, of mixed kinds, owners and ages (see ``seeding.py``)."""
        return seed(state, parse_seed(body))

    def metrics(request: Request, body: dict[str, Any]) -> Any:
        """Script a resource's metrics (see ``metrics_script.py``); answers what it set."""
        kind, resource_id = _kind_and_id(body, KINDS)
        script = state.set_metrics(kind, resource_id, parse_metrics_script(body))
        return {
            "kind": kind,
            "id": resource_id,
            "series": sorted(script.series),
            "missing": sorted(script.missing),
            "missing_pods": sorted(script.missing_pods),
        }

    def backdate(request: Request, body: dict[str, Any]) -> Any:
        """``{"kind", "id", "seconds"}``: the resource's current start is ``seconds`` ago."""
        kind, resource_id = _kind_and_id(body, KINDS)
        seconds: Any = body.get("seconds")
        state.backdate(kind, resource_id, seconds)  # checked there
        return {"kind": kind, "id": resource_id, "seconds": seconds}

    def reset(request: Request, body: dict[str, Any]) -> Any:
        state.reset()
        config.faults.configure(FaultSettings())
        return {"reset": True}

    return [
        Route("/_emulator/fail", control(fail), methods=["POST"]),
        Route("/_emulator/faults", control(faults), methods=["GET", "POST"]),
        Route("/_emulator/config", control(settings), methods=["GET", "POST"]),
        Route("/_emulator/stats", control(stats), methods=["GET", "DELETE"]),
        Route("/_emulator/reset", control(reset), methods=["POST"]),
        Route("/_emulator/seed", control(seed_resources), methods=["POST"]),
        Route("/_emulator/metrics", control(metrics), methods=["POST"]),
        Route("/_emulator/backdate", control(backdate), methods=["POST"]),
    ]


def _kind_and_id(body: dict[str, Any], kinds: tuple[str, ...]) -> tuple[str, str]:
    kind, resource_id = body.get("kind"), body.get("id")
    if kind not in kinds:
        raise EmulatorError(422, f"kind: one of {list(kinds)}")
    if not isinstance(resource_id, str) or not resource_id:
        raise EmulatorError(422, "id: required, a resource id")
    return kind, resource_id


def _with_faults_and_stats(app: ASGIApp, config: EmulatorConfig) -> ASGIApp:
    """ASGI middleware: count API requests and connections, then inject the planned fault, if any."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if config.path_prefix and scope["type"] == "http":
            if not scope["path"].startswith(config.path_prefix + "/"):
                await _error(404, f"No route {scope['path']}")(scope, receive, send)
                return
            scope = {**scope, "path": scope["path"][len(config.path_prefix) :]}
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await app(scope, receive, send)
            return
        stats = config.stats
        stats.requests += 1
        route = f"{scope['method']} {_route_shape(scope['path'])}"
        stats.by_route[route] = stats.by_route.get(route, 0) + 1
        if scope.get("client"):
            stats.connections.add(tuple(scope["client"]))
        settings = config.faults.settings
        fault = config.faults.next_fault()  # drawn on arrival, so that the order of arrival decides
        if fault:
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
        if settings.latency:
            await asyncio.sleep(settings.latency)
        if fault == "error":
            await _error(settings.error_status, "Emulated server error")(scope, receive, send)
        elif fault == "throttle":
            headers = {"Retry-After": f"{settings.retry_after:g}"}
            await _error(429, "Too many requests", headers)(scope, receive, send)
        elif fault == "drop":
            await app(scope, receive, _drop_after_headers(send))
        else:
            await app(scope, receive, send)

    return middleware


def _drop_after_headers(send: Send) -> Send:
    """A ``send`` that lets the request take effect, sends the headers, then breaks the connection."""

    async def dropping_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            # Promise a body that never comes, so that even a 204 is cut off mid-answer.
            headers = [(key, value) for key, value in message.get("headers", []) if key.lower() != b"content-length"]
            await send({**message, "status": 200, "headers": [*headers, (b"content-length", b"64")]})
            raise DroppedConnection("emulated dropped connection")

    return dropping_send


_NAMED_SEGMENTS = (
    (re.compile(r"^(/api/jobs/[^/]+/stop/)[^/]+$"), r"\1{run}"),
    (re.compile(r"^(/api/active/pods/)[^/]+"), r"\1{pod}"),
)


def _route_shape(path: str) -> str:
    """The route of ``path`` for statistics: ids (32 characters) as ``{id}``, run and pod names as placeholders."""
    shape = "/".join("{id}" if len(part) == 32 else part for part in path.split("/"))
    for pattern, replacement in _NAMED_SEGMENTS:
        shape = pattern.sub(replacement, shape)
    return shape
