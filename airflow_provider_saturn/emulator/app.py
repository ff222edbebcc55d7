"""The emulator's HTTP API: Saturn generation-2 endpoints the provider and Saturn's own clients use.

Starlette app; errors are ``{"message": ...}`` JSON with Saturn's status codes. Test-only controls live
under ``/_emulator`` (no token needed): fail a resource, set faults, reset, read request statistics.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.faults import FaultPlan, FaultSettings
from airflow_provider_saturn.emulator.render import dask_cluster_json, workspace_json
from airflow_provider_saturn.emulator.state import EmulatorError, SaturnState
from airflow_provider_saturn.emulator.validation import (
    parse_dask_cluster_create,
    parse_workspace_create,
    parse_workspace_update,
)

Handler = Callable[[Request], Awaitable[Response]]


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
    """Everything an emulator instance is made of."""

    tokens: frozenset[str]
    expired_tokens: frozenset[str] = frozenset()
    state: SaturnState = field(default_factory=SaturnState)
    faults: FaultPlan = field(default_factory=FaultPlan)
    stats: EmulatorStats = field(default_factory=EmulatorStats)
    path_prefix: str = ""  # serve under e.g. "/saturn", as behind a reverse proxy


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status_code, headers=headers)


async def _json_body(request: Request, *, required: bool) -> dict[str, Any]:
    """The JSON body, whatever the Content-Type (generation-1 clients send none)."""
    raw = await request.body()
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


def build_app(config: EmulatorConfig) -> Starlette:
    """The Starlette app serving one emulator's state."""
    state = config.state

    def api(handler: Callable[[Request], Awaitable[Any]], status_code: int = 200) -> Handler:
        async def endpoint(request: Request) -> Response:
            auth = _check_token(request, config)
            if auth is not None:
                return auth
            try:
                with state.lock:
                    result = await handler(request)
            except EmulatorError as error:
                return _error(error.status_code, error.message)
            if result is None:
                return Response(status_code=204)
            return JSONResponse(result, status_code=status_code, headers={"X-Saturn-Version": catalog.API_VERSION})

        return endpoint

    async def status(request: Request) -> Any:
        return {"status": "ok", "version": catalog.API_VERSION}

    async def options(request: Request) -> Any:
        return catalog.server_options()

    async def list_workspaces(request: Request) -> Any:
        query = request.query_params
        items = state.list_workspaces()
        if query.get("name"):
            items = [record for record in items if query["name"] in record.name]
        return _page(query, items, "workspaces", lambda record: workspace_json(record, state))

    async def create_workspace(request: Request) -> Any:
        name, settings = parse_workspace_create(await _json_body(request, required=True))
        return workspace_json(state.create_workspace(name, settings), state)

    async def get_workspace(request: Request) -> Any:
        return workspace_json(state.workspace(request.path_params["id"]), state)

    async def update_workspace(request: Request) -> Any:
        changes = parse_workspace_update(await _json_body(request, required=True))
        return workspace_json(state.update_workspace(request.path_params["id"], changes), state)

    async def delete_workspace(request: Request) -> Any:
        allow_active = request.query_params.get("allow_active", "false").lower() in ("true", "1", "yes")
        state.delete_workspace(request.path_params["id"], allow_active)
        return None

    async def start_workspace(request: Request) -> Any:
        body = await _json_body(request, required=False)
        debug_mode = body.get("debug_mode", False)
        if not isinstance(debug_mode, bool):
            raise EmulatorError(422, "debug_mode: must be a boolean")
        return workspace_json(state.start_workspace(request.path_params["id"], debug_mode), state)

    async def stop_workspace(request: Request) -> Any:
        return workspace_json(state.stop_workspace(request.path_params["id"]), state)

    async def list_dask_clusters(request: Request) -> Any:
        items = list(state.dask_clusters.values())
        for record in items:
            state.dask_cluster(record.id)
        return _page(request.query_params, items, "dask_clusters", lambda record: dask_cluster_json(record, state))

    async def create_dask_cluster(request: Request) -> Any:
        workspace_id, settings = parse_dask_cluster_create(await _json_body(request, required=True))
        return dask_cluster_json(state.create_dask_cluster(workspace_id, settings), state)

    async def get_dask_cluster(request: Request) -> Any:
        return dask_cluster_json(state.dask_cluster(request.path_params["id"]), state)

    async def start_dask_cluster(request: Request) -> Any:
        return dask_cluster_json(state.start_dask_cluster(request.path_params["id"]), state)

    async def stop_dask_cluster(request: Request) -> Any:
        return dask_cluster_json(state.stop_dask_cluster(request.path_params["id"]), state)

    routes = [
        Route("/api/status", api(status), methods=["GET"]),
        Route("/api/info/servers", api(options), methods=["GET"]),
        Route("/api/workspaces", api(list_workspaces), methods=["GET"]),
        Route("/api/workspaces", api(create_workspace, 201), methods=["POST"]),
        Route("/api/workspaces/{id}", api(get_workspace), methods=["GET"]),
        Route("/api/workspaces/{id}", api(update_workspace), methods=["PATCH"]),
        Route("/api/workspaces/{id}", api(delete_workspace), methods=["DELETE"]),
        Route("/api/workspaces/{id}/start", api(start_workspace), methods=["POST"]),
        Route("/api/workspaces/{id}/stop", api(stop_workspace), methods=["POST"]),
        Route("/api/dask_clusters", api(list_dask_clusters), methods=["GET"]),
        Route("/api/dask_clusters", api(create_dask_cluster, 201), methods=["POST"]),
        Route("/api/dask_clusters/{id}", api(get_dask_cluster), methods=["GET"]),
        Route("/api/dask_clusters/{id}/start", api(start_dask_cluster), methods=["POST"]),
        Route("/api/dask_clusters/{id}/stop", api(stop_dask_cluster), methods=["POST"]),
        *_control_routes(config),
    ]
    app = Starlette(routes=routes)
    app.add_exception_handler(404, _not_found)
    app.add_exception_handler(405, _method_not_allowed)
    return _with_faults_and_stats(app, config)  # type: ignore[return-value]


def _check_token(request: Request, config: EmulatorConfig) -> Response | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        return _error(401, "Missing or malformed Authorization header: expected 'token <API token>'")
    token = token.strip()
    if token in config.expired_tokens:
        return _error(401, "Token has expired")
    if token not in config.tokens:
        return _error(401, "Invalid token")
    return None


def _page(query: Any, items: list[Any], field_name: str, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of a list: ``next_key`` / ``prev_key`` are ids of the items around the page."""
    try:
        page_size = int(query.get("page_size", 100))
    except ValueError:
        raise EmulatorError(422, "page_size: must be an integer") from None
    if not 1 <= page_size <= 1000:
        raise EmulatorError(422, "page_size: must be between 1 and 1000")
    if query.get("descending", "false").lower() in ("true", "1"):
        items = list(reversed(items))
    ids = [item.id for item in items]
    start = 0
    if query.get("next_key"):
        if query["next_key"] not in ids:
            raise EmulatorError(422, "next_key: unknown key")
        start = ids.index(query["next_key"]) + 1
    page = items[start : start + page_size]
    more = start + page_size < len(items)
    return {
        field_name: [render(item) for item in page],
        "prev_key": ids[start - 1] if start > 0 else None,
        "next_key": page[-1].id if more and page else None,
    }


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, f"No route {request.url.path}")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, f"Method {request.method} not allowed on {request.url.path}")


def _control_routes(config: EmulatorConfig) -> list[Route]:
    state = config.state

    async def fail(request: Request) -> Response:
        body = await request.json()
        kind = body.get("kind", "workspace")
        if kind not in ("workspace", "dask_cluster"):
            return _error(422, "kind: workspace or dask_cluster")
        try:
            with state.lock:
                state.fail(kind, str(body["id"]), str(body.get("message", "Emulated failure")))
        except EmulatorError as error:
            return _error(error.status_code, error.message)
        return JSONResponse({"failed": body["id"]})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                config.faults.configure(FaultSettings(**await request.json()))
            except (TypeError, ValueError) as error:
                return _error(422, str(error))
        return JSONResponse(config.faults.describe())

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            config.stats.requests = 0
            config.stats.by_route.clear()
            config.stats.connections.clear()
            config.stats.faults.clear()
        return JSONResponse(config.stats.as_dict())

    async def seed(request: Request) -> Response:
        """Create ``count`` workspaces at once (and start them, with ``start``): load for benchmarks."""
        body = await request.json()
        count, prefix = int(body.get("count", 1)), str(body.get("prefix", "seeded"))
        with state.lock:
            records = [state.create_workspace(f"{prefix}-{index:06d}", {}) for index in range(count)]
            if body.get("start"):
                for record in records:
                    state.start_workspace(record.id)
        return JSONResponse({"ids": [record.id for record in records]})

    async def reset(request: Request) -> Response:
        with state.lock:
            state.reset()
        config.faults.configure(FaultSettings())
        return JSONResponse({"reset": True})

    return [
        Route("/_emulator/fail", fail, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST"]),
        Route("/_emulator/stats", stats, methods=["GET", "DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/seed", seed, methods=["POST"]),
    ]


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


def _route_shape(path: str) -> str:
    parts = ["{id}" if len(part) == 32 else part for part in path.split("/")]
    return "/".join(parts)
