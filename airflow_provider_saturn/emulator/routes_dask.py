"""What a Dask client needs of a Dask cluster: ``GET /api/dask_clusters/{id}/info`` (scheduler address and
dashboard link), ``POST .../csr`` (a client certificate signed by the cluster's CA), ``POST .../scale``.

``/info`` and ``/csr`` answer only for a ``running`` cluster (a 409 saying its status otherwise), as Saturn's
scheduler has no address before. In real-Dask mode (``real_dask.py``) the address is the real scheduler's,
``tls://127.0.0.1:<port>``, and the dashboard link its HTTP port's; in the scripted mode they are made up and
stable: ``tls://dask-<id>.emulator.invalid:8786`` from outside Saturn (``is_external=true``), the cluster's
``scheduler_url`` from inside, each with a dashboard link on the cluster's emulated host. ``/csr`` takes the
PEM CSR as the raw body (any Content-Type) and answers the chain in PEM, the client's certificate first, in both
modes (``dask_tls.py`` says what is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator.handlers import Api, Endpoint, flag
from airflow_provider_saturn.emulator.render import HOST, dask_cluster_json
from airflow_provider_saturn.emulator.state import DaskClusterRecord, EmulatorError, SaturnState

MAX_SCALE = 1000
"""The largest worker count ``/scale`` takes in the scripted mode (real-Dask mode has its own, smaller, bound)."""
PEM_MEDIA_TYPE = "application/x-pem-file"

RawHandler = Callable[[Request, bytes], bytes]
"""Runs under the state lock: takes the request and its raw body, answers the raw body of a 200."""


class RawApi(Protocol):
    """Makes an endpoint of a ``RawHandler``: token check, whole body read, then the handler under the lock."""

    def __call__(self, handler: RawHandler, media_type: str) -> Endpoint: ...


def _running(state: SaturnState, cluster_id: str) -> DaskClusterRecord:
    """The cluster if it is running: a 404 if there is none, a 409 with its status otherwise."""
    record = state.dask_cluster(cluster_id)
    if record.life.status != "running":
        raise EmulatorError(409, f"Dask cluster {cluster_id} is not running (status: {record.life.status})")
    return record


def scripted_info(record: DaskClusterRecord, *, external: bool) -> dict[str, Any]:
    """The made-up, stable scheduler address and dashboard link of a cluster of the scripted mode."""
    subdomain = f"d-{record.id[:8]}"
    address = f"tls://dask-{record.id}.emulator.invalid:8786" if external else f"tcp://{subdomain}.main-namespace:8786"
    return {"scheduler_address": address, "dashboard_link": f"https://{subdomain}.{HOST}/status", "id": record.id}


def parse_scale(body: dict[str, Any]) -> int:
    """The ``n`` of a ``DaskClusterScale`` body: an integer from 0 to ``MAX_SCALE``; a 422 otherwise."""
    n = body.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise EmulatorError(422, "n: required, an integer of at least 0")
    if n > MAX_SCALE:
        raise EmulatorError(400, f"n: the emulator scales a Dask cluster to at most {MAX_SCALE} workers")
    return n


def dask_routes(state: SaturnState, api: Api, raw_api: RawApi) -> list[Route]:
    """The ``/info``, ``/csr``, ``/scale`` and ``/status`` routes of Dask clusters."""

    def info(request: Request, body: dict[str, Any]) -> Any:
        record = _running(state, request.path_params["id"])
        if state.dask_backend is None:
            return scripted_info(record, external=flag(request.query_params, "is_external"))
        endpoint = state.dask_backend.endpoint(record.id)
        if endpoint is None:
            raise EmulatorError(409, f"Dask cluster {record.id} is not running (its scheduler has ended)")
        address, dashboard_port = endpoint
        dashboard = f"http://127.0.0.1:{dashboard_port}/status" if dashboard_port else None
        return {"scheduler_address": address, "dashboard_link": dashboard, "id": record.id}

    def csr(request: Request, raw: bytes) -> bytes:
        record = _running(state, request.path_params["id"])
        return state.dask_authorities.get(record.id).sign_client_csr(raw)

    def scale(request: Request, body: dict[str, Any]) -> Any:
        state.scale_dask_cluster(request.path_params["id"], parse_scale(body))
        return None

    def status(request: Request, body: dict[str, Any]) -> Any:
        """What dask-saturn's ``SaturnCluster.status`` reads (not in the OpenAPI spec, as ``/csr``)."""
        record = state.dask_cluster(request.path_params["id"])
        return {"id": record.id, "status": dask_cluster_json(record, state)["status"]}

    return [
        Route("/api/dask_clusters/{id}/info", api(info), methods=["GET"]),
        Route("/api/dask_clusters/{id}/csr", raw_api(csr, PEM_MEDIA_TYPE), methods=["POST"]),
        Route("/api/dask_clusters/{id}/scale", api(scale, body_required=True), methods=["POST"]),
        Route("/api/dask_clusters/{id}/status", api(status), methods=["GET"]),
    ]
