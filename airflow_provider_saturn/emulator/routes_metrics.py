"""The metrics endpoints: ``GET /api/{workspaces|dask_clusters|deployments|jobs}/{id}/metrics``.

Query: ``type`` (one of ``METRIC_TYPES``, or several comma-separated; every type when unset), ``start``,
``end`` (ISO 8601), ``resolution`` and, for a Dask cluster, ``component`` (``scheduler``, ``worker``;
``kubecluster`` has no pods here). ``cluster`` is accepted and ignored. See ``metrics.py``. A script's
``clock_offset_seconds`` moves this resource's clock: its "now", its points' dates, and the ``Date`` header of
the answer (the handler leaves the offset in the request's scope, under ``CLOCK_OFFSET_SCOPE_KEY``, for the
server's ``Date``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator.handlers import Api, Handler
from airflow_provider_saturn.emulator.metric_pods import pods_of
from airflow_provider_saturn.emulator.metrics import collect, parse_component, parse_types, parse_window
from airflow_provider_saturn.emulator.render_metrics import metrics_json
from airflow_provider_saturn.emulator.state import SaturnState

CLOCK_OFFSET_SCOPE_KEY = "saturn.clock_offset"
"""Where a handler leaves the seconds its answer's clock runs ahead of the real one, for its ``Date`` header."""
PATHS = {"workspaces": "workspace", "dask_clusters": "dask_cluster", "deployments": "deployment", "jobs": "job"}
"""The API path of each kind that reports metrics, and the kind as controls name it."""


def metrics_routes(state: SaturnState, api: Api) -> list[Route]:
    def metrics_of(kind: str) -> Handler:
        def handler(request: Request, body: dict[str, Any]) -> Any:
            query = request.query_params
            resource_id = request.path_params["id"]
            script = state.metrics.get((kind, resource_id))
            offset = script.clock_offset if script is not None else 0.0  # a Saturn clock ahead (or behind)
            request.scope[CLOCK_OFFSET_SCOPE_KEY] = offset
            now = state.epoch + offset + state.now()
            window = parse_window(query, now)
            types = parse_types(query.get("type"))
            component = parse_component(query.get("component")) if kind == "dask_cluster" else None
            pods = pods_of(kind, resource_id, state)
            if component is not None:
                pods = [pod for pod in pods if pod.component == component]
            collected = collect(pods, types, window, epoch=state.epoch + offset, now=now, script=script)
            return metrics_json(collected, window)

        return handler

    return [
        Route(f"/api/{path}/{{id}}/metrics", api(metrics_of(kind)), methods=["GET"]) for path, kind in PATHS.items()
    ]
