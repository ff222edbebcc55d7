"""Reads of many resources at once, through the async client: Saturn's list of active resources, a job's runs,
a resource's metrics. Lists are walked within the client's page limits, one request a page. The idle shutdown's
reads also give Saturn's clock, by the ``Date`` header of their (first) answer (:mod:`~.server_clock`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_saturn.client.async_client import AsyncSaturnClient
from airflow_provider_saturn.client.errors import SaturnBadResponseError
from airflow_provider_saturn.client.job_runs import job_run_from_summary
from airflow_provider_saturn.client.kinds import resource_wire
from airflow_provider_saturn.client.paging import PageWalk
from airflow_provider_saturn.client.paths import Paths, item_path
from airflow_provider_saturn.client.server_clock import ClockReading

ACTIVE_RESOURCES = "api/active/resources"
ACTIVE_PAGE_SIZE = 1000  # Saturn's largest page: one request per thousand active resources
# The kinds a wait names, by the ``resource_type`` Saturn gives an active resource.
KIND_OF_TYPE = {"workspace": "jupyter_server", "dask": "dask_cluster", "deployment": "deployment"}


async def _walk(
    client: AsyncSaturnClient, path: str, field: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], int, ClockReading | None]:
    """Every item of a paginated list, how many pages it took, and Saturn's clock by the first page's answer."""
    walk = PageWalk(path, field, params, client.page_limits)
    items: list[dict[str, Any]] = []
    pages = 0
    clock: ClockReading | None = None
    while walk.query is not None:
        page, reading = await client._request(
            "GET", path, "resource", "", params=walk.query, shape=walk.take, dated=True
        )
        items.extend(page)
        clock = reading if pages == 0 else clock
        pages += 1
    return items, pages, clock


async def active_resource_items(
    client: AsyncSaturnClient, *, list_by: str = "owner", resource_type: str | None = None
) -> tuple[list[dict[str, Any]], ClockReading | None]:
    """Saturn's active resources as it sends them (workspaces, Dask clusters, deployments, jobs), all pages; and
    Saturn's clock by the ``Date`` header of the first page's answer (``None`` without a readable one)."""
    params: dict[str, Any] = {"list_by": list_by, "page_size": ACTIVE_PAGE_SIZE}
    if resource_type is not None:
        params["resource_type"] = resource_type
    items, _, clock = await _walk(client, ACTIVE_RESOURCES, "resources", params)
    return items, clock


# The API collection of each kind that reports metrics.
METRICS_COLLECTIONS = {
    "workspace": Paths.WORKSPACES,
    "dask_cluster": Paths.DASK_CLUSTERS,
    "deployment": Paths.DEPLOYMENTS,
    "job": Paths.JOBS,
}


async def resource_metrics(
    client: AsyncSaturnClient,
    kind: str,
    resource_id: str,
    *,
    types: tuple[str, ...],
    start: datetime,
    end: datetime,
    resolution_seconds: int,
) -> tuple[dict[str, Any], ClockReading | None]:
    """``GET /api/<kind>/<id>/metrics``: series per pod (``cpu`` in millicores...) over ``[start, end]``; and
    Saturn's clock by the answer's ``Date`` header (``None`` without a readable one)."""
    path = item_path(METRICS_COLLECTIONS[kind], resource_id, f"{kind}_id", "metrics")
    params = {
        "type": ",".join(types),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "resolution": f"{resolution_seconds}s",
    }
    metrics, clock = await client._request("GET", path, kind, resource_id, params=params, dated=True)
    return metrics, clock


async def active_resources(
    client: AsyncSaturnClient, *, list_by: str = "owner", resource_type: str | None = None
) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """Every active workspace (as a Jupyter server), Dask cluster and deployment, keyed by ``(kind, id)`` and
    normalised as a read of that kind would be; and how many pages that took.

    ``GET /api/active/resources`` (``list_by``: ``owner``, the token's own; ``org``; ``account``). Jobs are
    left out: a wait follows a job's *run*, which the list does not show.
    """
    params: dict[str, Any] = {"list_by": list_by, "page_size": ACTIVE_PAGE_SIZE}
    if resource_type is not None:
        params["resource_type"] = resource_type
    items, pages, _ = await _walk(client, ACTIVE_RESOURCES, "resources", params)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        kind = KIND_OF_TYPE.get(str(item.get("resource_type")))
        if kind is None:
            continue
        try:
            resource = resource_wire(kind).normalise(item)
        except SaturnBadResponseError:  # one odd item: its waits read it on their own
            continue
        found[(kind, str(resource["id"]))] = resource
    return found, pages


async def job_runs(client: AsyncSaturnClient, job_id: str) -> dict[str, dict[str, Any]]:
    """Every run of a job that Saturn still knows, keyed by its run key ``"<job id>/<run name>"``."""
    summaries, _, _ = await _walk(client, Paths.job(job_id, "runtimesummary"), "job_summaries", {})
    runs = (job_run_from_summary(job_id, summary) for summary in summaries)
    return {str(run["id"]): run for run in runs if run["id"]}
