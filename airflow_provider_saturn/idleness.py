"""What makes a Saturn resource idle, decided from what Saturn says: its start, and its CPU (and GPU) use.

Free of Airflow and of HTTP: the scheduled-shutdown operator reads Saturn's active resources and their
metrics, and this module decides, resource by resource, with the reason in words. A resource is idle when
all hold:

- it has been up for at least ``idle_for``, by a start Saturn gives (a workspace's ``started_at``, a
  deployment's ``last_deploy``, the oldest point of a Dask cluster's metrics); never guessed;
- its CPU, summed over its pods (a Dask cluster: scheduler and workers), stayed below ``cpu_below`` cores at
  every point of the last ``idle_for``;
- optionally, its GPU stayed below ``gpu_below`` the same way.

Missing or partial metrics (no series, a pod without one, a window not covered) mean *not idle*.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_saturn.client.job_runs import parse_time

MILLICORES = 1000.0
# Kinds the operator can stop, by Saturn's resource_type, and what the report calls them.
KINDS = {"workspace": "workspace", "dask": "dask_cluster", "deployment": "deployment", "job": "job"}
DEFAULT_KINDS = ("workspace", "dask_cluster")
# How much of the window the metrics may leave uncovered at its start (one sample of Saturn's resolution).
COVERAGE_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class Candidate:
    """An active resource, as the operator reads it from Saturn's list of active resources."""

    kind: str  # workspace, dask_cluster, deployment, job
    id: str
    name: str
    owner: str
    tags: dict[str, str]
    started_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """CPU (or GPU) use over the window, summed over pods, in cores: the average and the peak."""

    avg: float
    max: float


@dataclass
class Verdict:
    """The decision about one resource, and why, for the report."""

    candidate: Candidate
    idle: bool
    reason: str
    up_for: timedelta | None = None
    cpu: Usage | None = None
    gpu: Usage | None = None


def candidate_of(resource: dict[str, Any]) -> Candidate | None:
    """The candidate an item of ``/api/active/resources`` describes; ``None`` for a kind that cannot be stopped."""
    kind = KINDS.get(str(resource.get("resource_type")))
    if kind is None or not isinstance(resource.get("id"), str):
        return None
    owner = resource.get("owner")
    tags = resource.get("tags")
    started = resource.get("started_at") if kind == "workspace" else resource.get("last_deploy")
    return Candidate(
        kind=kind,
        id=resource["id"],
        name=str(resource.get("name") or ""),
        owner=str(owner.get("name") or "") if isinstance(owner, dict) else "",
        tags={str(key): str(value) for key, value in tags.items()} if isinstance(tags, dict) else {},
        started_at=parse_time(started) if kind != "dask_cluster" else None,
        raw=resource,
    )


def excluded(candidate: Candidate, exclude: Sequence[str]) -> str | None:
    """The exclude entry that keeps ``candidate`` running (a name, an id or ``tag:key=value``), or ``None``."""
    for entry in exclude:
        if entry.startswith("tag:"):
            key, _, value = entry[4:].partition("=")
            if candidate.tags.get(key) == value:
                return entry
        elif entry in (candidate.name, candidate.id):
            return entry
    return None


def selected(candidate: Candidate, name_pattern: str, kinds: Iterable[str]) -> bool:
    return candidate.kind in kinds and fnmatch.fnmatchcase(candidate.name, name_pattern)


def expected_pods(candidate: Candidate) -> int:
    """How many pods a resource runs, so that one without metrics is noticed: a workspace one, a Dask cluster
    its scheduler and workers, a deployment its ``scale``; a job at least one."""
    raw = candidate.raw
    if candidate.kind == "dask_cluster":
        workers = raw.get("n_workers")
        return 1 + (workers if isinstance(workers, int) and not isinstance(workers, bool) and workers > 0 else 0)
    if candidate.kind == "deployment":
        scale = raw.get("scale")
        return scale if isinstance(scale, int) and not isinstance(scale, bool) and scale > 0 else 1
    return 1


def usage(series: Any, window_start: datetime, pods: int = 1) -> tuple[Usage | None, datetime | None, str | None]:
    """Summed use (cores) from a list of MetricSeries over the window; the oldest point; or what is missing.

    Points are summed across pods at each time; the peak is the largest sum. A list without any series, a pod
    without points, or fewer pods with series than the resource runs (``pods``) is missing metrics.
    """
    if not isinstance(series, list) or not series:
        return None, None, "no metrics"
    named = {pod.get("pod_name") for pod in series if isinstance(pod, dict)}
    if len(named) < pods:
        return None, None, f"no metrics for pod(s): only {len(named)} of its {pods} pods have some"
    totals: dict[datetime, float] = defaultdict(float)
    oldest: datetime | None = None
    for pod in series:
        points = pod.get("data") if isinstance(pod, dict) else None
        pod_name = pod.get("pod_name") if isinstance(pod, dict) else None
        if not isinstance(points, list) or not points:
            return None, None, f"no metrics for pod {pod_name or '?'}"
        for point in points:
            moment = parse_time(point.get("datetime")) if isinstance(point, dict) else None
            value = point.get("value") if isinstance(point, dict) else None
            if moment is None or not isinstance(value, int | float) or isinstance(value, bool):
                return None, None, f"unreadable metrics for pod {pod_name or '?'}"
            oldest = moment if oldest is None or moment < oldest else oldest
            if moment >= window_start:
                totals[moment] += float(value) / MILLICORES
    if not totals:
        return None, oldest, "no metrics in the window"
    values = list(totals.values())
    return Usage(avg=sum(values) / len(values), max=max(values)), oldest, None


def decide_idle(
    candidate: Candidate,
    metrics: dict[str, Any] | None,
    *,
    now: datetime,
    idle_for: timedelta,
    cpu_below: float,
    gpu_below: float | None,
    by_uptime_only: bool = False,
) -> Verdict:
    """Whether ``candidate`` is idle, from its start and its ``metrics`` (a Metrics answer, or ``None``)."""
    window_start = now - idle_for
    up_for = now - candidate.started_at if candidate.started_at is not None else None
    if by_uptime_only:
        if up_for is None:
            return Verdict(candidate, False, "Saturn gives no start time (uptime is never guessed)")
        if up_for < idle_for:
            return Verdict(candidate, False, f"up for {_span(up_for)} only", up_for)
        return Verdict(candidate, True, f"up for {_span(up_for)}, at least {_span(idle_for)}", up_for)
    if metrics is None:
        return Verdict(candidate, False, "its metrics could not be read", up_for)
    pods = expected_pods(candidate)
    cpu, oldest, missing = usage(metrics.get("cpu"), window_start, pods)
    if up_for is None and oldest is not None:  # a Dask cluster: its metrics say since when its pods run
        up_for = now - oldest
    if up_for is None:
        reason = f"CPU: {missing}" if missing is not None else "Saturn gives no start time (uptime is never guessed)"
        return Verdict(candidate, False, reason, cpu=cpu)
    if up_for < idle_for:
        return Verdict(candidate, False, f"up for {_span(up_for)} only", up_for, cpu)
    if missing is not None or cpu is None:
        return Verdict(candidate, False, f"CPU: {missing}", up_for)
    if oldest is not None and oldest > window_start + COVERAGE_SLACK:
        return Verdict(candidate, False, f"CPU metrics cover only the last {_span(now - oldest)}", up_for, cpu)
    if cpu.max >= cpu_below:
        return Verdict(candidate, False, f"CPU reached {cpu.max:.2f} cores (limit {cpu_below:g})", up_for, cpu)
    gpu = None
    if gpu_below is not None:
        gpu, _, gpu_missing = usage(metrics.get("gpu"), window_start, pods)
        if gpu_missing is not None or gpu is None:
            return Verdict(candidate, False, f"GPU: {gpu_missing}", up_for, cpu)
        if gpu.max >= gpu_below:
            return Verdict(candidate, False, f"GPU reached {gpu.max:.2f} (limit {gpu_below:g})", up_for, cpu, gpu)
    reason = f"CPU below {cpu_below:g} cores for {_span(idle_for)} (peak {cpu.max:.2f})"
    return Verdict(candidate, True, reason, up_for, cpu, gpu)


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
