"""What makes a Saturn resource idle, decided from what Saturn says: its start, and its CPU (and GPU) use.

Free of Airflow and of HTTP: the scheduled-shutdown operator reads Saturn's active resources and their
metrics, and this module decides, resource by resource, with the reason in words. A resource is idle when
all hold:

- it has been up for at least ``idle_for``, by a start Saturn gives (a workspace's ``started_at``, a
  deployment's ``last_deploy``, the oldest point of a Dask cluster's metrics); never guessed, and never in
  the future;
- its CPU, summed over its pods (a Dask cluster: scheduler and workers), stayed below ``cpu_below`` cores at
  every point of the last ``idle_for``;
- optionally, its GPU stayed below ``gpu_below`` the same way;
- a workspace: its attached Dask cluster, if running, is idle by the same rule and not excluded (stopping a
  workspace stops its cluster; see :func:`with_clusters`).

Anything doubtful means *not idle*:

- values: each must be a finite number of at least 0 (no ``NaN``, infinity, negative, ``None``, string or
  boolean) and at most ``MAX_VALUE`` millicores for one pod;
- coverage: every pod's series covers the window from its start to its end, with no stretch longer than
  ``MAX_GAP_STEPS`` resolution steps without a point (at the start, inside, and before the end);
- buckets: the pods' points are summed per time bucket of the resolution (points a few seconds apart are one
  bucket); a pod without a point in a bucket inside a tolerated gap counts with the larger of its neighbours;
- clocks: Saturn's clock may run up to ``CLOCK_TOLERANCE`` ahead of or behind Airflow's. The operator asks
  for points until ``now + look_ahead`` so that points a clock ahead dates after Airflow's now are read and
  judged; a point dated more than ``CLOCK_TOLERANCE`` after now, or a pod whose newest point is older than
  ``CLOCK_TOLERANCE`` (or ``MAX_GAP_STEPS`` steps, the larger), means not idle.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_saturn.client.job_runs import parse_time
from airflow_provider_saturn.client.wire import nested_dask_cluster_id, normalise_status, shorten

MILLICORES = 1000.0
# Kinds the operator can stop, by Saturn's resource_type, and what the report calls them.
KINDS = {"workspace": "workspace", "dask": "dask_cluster", "deployment": "deployment", "job": "job"}
DEFAULT_KINDS = ("workspace", "dask_cluster")
DEFAULT_RESOLUTION = timedelta(seconds=60)
MIN_RESOLUTION = timedelta(seconds=1)
MAX_GAP_STEPS = 3
"""The longest stretch without a point a covered window may have, in resolution steps (two missed samples)."""
CLOCK_TOLERANCE = timedelta(minutes=2)
"""How far Saturn's clock may run ahead of or behind Airflow's without hiding recent activity."""
MAX_VALUE = 1e9
"""The most millicores one point of one pod may read (a million cores): more is no measurement."""
FUTURE_START = "start time is in the future"
# Statuses of a nested Dask cluster that run nothing: it need not be judged with its workspace.
NOT_RUNNING = frozenset({"stopping", "stopped", "error"})


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


def look_ahead(resolution: timedelta) -> timedelta:
    """How far past Airflow's now the operator asks for metrics: a Saturn clock up to ``CLOCK_TOLERANCE`` ahead
    dates its newest points after Airflow's now, and one a step or more further ahead still shows as such."""
    return CLOCK_TOLERANCE + MAX_GAP_STEPS * resolution


def _value_problem(value: Any) -> str | None:
    """Why a metric value is no measurement of use, or ``None`` when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "unreadable metrics"
    if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        return "a value that is not a finite number of at least 0"
    if value > MAX_VALUE:
        return f"a value over {MAX_VALUE:g} millicores"
    return None


Reading = list[tuple[datetime, float]]  # one pod's points in the window, oldest first


def _point_problem(moment: datetime | None, value: Any, now: datetime) -> str | None:
    """Why one point is no measurement of use at a time Airflow can trust, or ``None``."""
    if moment is None:
        return "unreadable metrics"
    problem = _value_problem(value)
    if problem is None and moment > now + CLOCK_TOLERANCE:
        problem = (
            f"a point dated {span(moment - now)} in the future (Saturn's clock more than {span(CLOCK_TOLERANCE)}"
            " ahead of Airflow's?: recent activity may be hidden)"
        )
    return problem


def _pod_points(
    pod: Any, window_start: datetime, now: datetime
) -> tuple[str, Reading | None, datetime | None, str | None]:
    """One pod's label, its points in the window, its oldest point, or what is wrong with it."""
    points = pod.get("data") if isinstance(pod, dict) else None
    name = pod.get("pod_name") if isinstance(pod, dict) else None
    label = shorten(str(name), 80) if name else "?"
    if not isinstance(points, list) or not points:
        return label, None, None, f"no metrics for pod {label}"
    reading: Reading = []
    oldest: datetime | None = None
    for point in points:
        moment = parse_time(point.get("datetime")) if isinstance(point, dict) else None
        value: Any = point.get("value") if isinstance(point, dict) else None
        problem = _point_problem(moment, value, now)
        if problem is not None or moment is None:
            return label, None, None, f"{problem} for pod {label}"
        oldest = moment if oldest is None or moment < oldest else oldest
        if moment >= window_start:
            reading.append((moment, float(value)))  # a number: checked above
    reading.sort(key=lambda item: item[0])
    return label, reading, oldest, None


def _coverage_problem(
    label: str, reading: Reading, window_start: datetime, now: datetime, resolution: timedelta
) -> str | None:
    """Why one pod's points do not cover the window from its start to its end, or ``None``."""
    if not reading:
        return f"no metrics in the window for pod {label}"
    gap = MAX_GAP_STEPS * resolution
    first, last = reading[0][0], reading[-1][0]
    if first - window_start > gap:
        return f"metrics cover only the last {span(now - first)} (pod {label})"
    for (earlier, _), (later, _) in itertools.pairwise(reading):
        if later - earlier > gap:
            return f"a gap of {span(later - earlier)} without metrics (pod {label}; at most {MAX_GAP_STEPS} steps)"
    stale = max(CLOCK_TOLERANCE, gap)
    if now - last > stale:
        return (
            f"the newest point of pod {label} is {span(now - last)} old (at most {span(stale)}):"
            " Saturn's clock behind Airflow's, or its metrics late"
        )
    return None


def _bucket_sums(readings: list[Reading], resolution: timedelta) -> list[float]:
    """The pods' use summed per time bucket of ``resolution``, newest bucket first.

    Buckets are counted back from the newest point of all, so points a few seconds apart fall in one bucket
    whatever the clock says. A pod without a point in a bucket (a gap the coverage allows, or the edges)
    counts with the larger of its nearest values on either side: a missed sample never lowers a sum.
    """
    anchor = max(reading[-1][0] for reading in readings)
    step = resolution.total_seconds()
    per_pod: list[dict[int, float]] = []
    for reading in readings:
        buckets: dict[int, float] = {}
        for moment, value in reading:
            index = round((anchor - moment).total_seconds() / step)
            buckets[index] = max(value, buckets.get(index, 0.0))
        per_pod.append(buckets)
    count = 1 + max(max(buckets) for buckets in per_pod)
    sums = [0.0] * count
    for buckets in per_pod:
        filled = _filled(buckets, count)
        for index in range(count):
            sums[index] += filled[index]
    return [total / MILLICORES for total in sums]


def _filled(buckets: dict[int, float], count: int) -> list[float]:
    """A pod's value in each of ``count`` buckets; an empty one takes the larger of its nearest neighbours."""
    before: list[float | None] = [None] * count
    after: list[float | None] = [None] * count
    seen: float | None = None
    for index in range(count):
        seen = buckets.get(index, seen)
        before[index] = seen
    seen = None
    for index in reversed(range(count)):
        seen = buckets.get(index, seen)
        after[index] = seen
    return [max(value for value in (before[index], after[index]) if value is not None) for index in range(count)]


def usage(
    series: Any,
    window_start: datetime,
    pods: int = 1,
    *,
    now: datetime,
    resolution: timedelta = DEFAULT_RESOLUTION,
) -> tuple[Usage | None, datetime | None, str | None]:
    """Summed use (cores) from a list of MetricSeries over the window; the oldest point; or what is missing.

    Points are summed across pods per time bucket of ``resolution``; the peak is the largest sum. A list
    without any series, a pod without points, fewer pods with series than the resource runs (``pods``), a
    value that is no measurement, a pod whose points do not cover the window, or a point dated too far after
    ``now`` is missing metrics (see the module's rule).
    """
    if resolution < MIN_RESOLUTION:
        raise ValueError(f"resolution must be at least {MIN_RESOLUTION}, not {resolution}")
    if not isinstance(series, list) or not series:
        return None, None, "no metrics"
    named = {pod.get("pod_name") for pod in series if isinstance(pod, dict)}
    if len(named) < pods:
        return None, None, f"no metrics for pod(s): only {len(named)} of its {pods} pods have some"
    readings: list[tuple[str, Reading]] = []
    oldest: datetime | None = None
    for pod in series:
        label, reading, pod_oldest, problem = _pod_points(pod, window_start, now)
        if problem is not None or reading is None:
            return None, None, problem
        if pod_oldest is not None and (oldest is None or pod_oldest < oldest):
            oldest = pod_oldest
        readings.append((label, reading))
    for label, reading in readings:
        problem = _coverage_problem(label, reading, window_start, now, resolution)
        if problem is not None:
            return None, oldest, problem
    sums = _bucket_sums([reading for _, reading in readings], resolution)
    return Usage(avg=math.fsum(sums) / len(sums), max=max(sums)), oldest, None


def decide_idle(
    candidate: Candidate,
    metrics: dict[str, Any] | None,
    *,
    now: datetime,
    idle_for: timedelta,
    cpu_below: float,
    gpu_below: float | None,
    by_uptime_only: bool = False,
    resolution: timedelta = DEFAULT_RESOLUTION,
) -> Verdict:
    """Whether ``candidate`` is idle, from its start and its ``metrics`` (a Metrics answer, or ``None``)."""
    window_start = now - idle_for
    if candidate.started_at is not None and candidate.started_at > now:
        return Verdict(candidate, False, FUTURE_START)
    up_for = now - candidate.started_at if candidate.started_at is not None else None
    if by_uptime_only:
        if up_for is None:
            return Verdict(candidate, False, "Saturn gives no start time (uptime is never guessed)")
        if up_for < idle_for:
            return Verdict(candidate, False, f"up for {span(up_for)} only", up_for)
        return Verdict(candidate, True, f"up for {span(up_for)}, at least {span(idle_for)}", up_for)
    if not isinstance(metrics, dict):
        return Verdict(candidate, False, "its metrics could not be read", up_for)
    pods = expected_pods(candidate)
    cpu, oldest, missing = usage(metrics.get("cpu"), window_start, pods, now=now, resolution=resolution)
    least = idle_for
    if up_for is None and oldest is not None:  # a Dask cluster: its metrics say since when its pods run
        up_for = max(now - oldest, timedelta(0))
        least = idle_for - MAX_GAP_STEPS * resolution  # its oldest point is the window's first sample
    if up_for is None:
        reason = f"CPU: {missing}" if missing is not None else "Saturn gives no start time (uptime is never guessed)"
        return Verdict(candidate, False, reason, cpu=cpu)
    if up_for < least:
        return Verdict(candidate, False, f"up for {span(up_for)} only", up_for, cpu)
    if missing is not None or cpu is None:
        return Verdict(candidate, False, f"CPU: {missing}", up_for)
    if cpu.max >= cpu_below:
        return Verdict(candidate, False, f"CPU reached {figure(cpu.max)} cores (limit {cpu_below:g})", up_for, cpu)
    gpu = None
    if gpu_below is not None:
        gpu, _, gpu_missing = usage(metrics.get("gpu"), window_start, pods, now=now, resolution=resolution)
        if gpu_missing is not None or gpu is None:
            return Verdict(candidate, False, f"GPU: {gpu_missing}", up_for, cpu)
        if gpu.max >= gpu_below:
            reason = f"GPU reached {figure(gpu.max)} (limit {gpu_below:g})"
            return Verdict(candidate, False, reason, up_for, cpu, gpu)
    reason = f"CPU below {cpu_below:g} cores for {span(idle_for)} (peak {figure(cpu.max)})"
    return Verdict(candidate, True, reason, up_for, cpu, gpu)


def attached_clusters(items: Iterable[dict[str, Any]]) -> dict[str, list[Candidate]]:
    """The Dask clusters attached to each workspace (by id) that may be running, from the active resources.

    Saturn says it both ways: a workspace carries its cluster nested (``dask_cluster``), and an active
    cluster names its workspace (``workspace_id``). An active cluster counts whatever its nested copy says; a
    nested one only when its status is not one that runs nothing (an unreadable status counts).
    """
    items = [item for item in items if isinstance(item, dict)]
    active: dict[str, Candidate] = {}
    for item in items:
        found = candidate_of(item)
        if found is not None and found.kind == "dask_cluster":
            active[found.id] = found
    attached: dict[str, dict[str, Candidate]] = {}
    for item in items:
        if str(item.get("resource_type")) == "dask" and isinstance(item.get("workspace_id"), str):
            cluster = active.get(str(item.get("id")))
            if cluster is not None:
                attached.setdefault(item["workspace_id"], {})[cluster.id] = cluster
        elif str(item.get("resource_type")) == "workspace" and isinstance(item.get("id"), str):
            cluster_id = nested_dask_cluster_id(item)
            if cluster_id is None:
                continue
            nested = item.get("dask_cluster")
            if cluster_id in active:
                attached.setdefault(item["id"], {})[cluster_id] = active[cluster_id]
            elif isinstance(nested, dict) and normalise_status(nested.get("status")) not in NOT_RUNNING:
                found = candidate_of({**nested, "resource_type": "dask", "id": cluster_id})
                if found is not None:
                    attached.setdefault(item["id"], {})[cluster_id] = found
    return {workspace_id: list(clusters.values()) for workspace_id, clusters in attached.items()}


@dataclass(frozen=True)
class ClusterCheck:
    """A workspace's attached Dask cluster as judged for it: its verdict, or the exclude entry keeping it."""

    cluster: Candidate
    verdict: Verdict | None
    excluded_by: str | None = None


def with_clusters(verdict: Verdict, clusters: Sequence[ClusterCheck]) -> Verdict:
    """A workspace's verdict once its attached Dask clusters are seen to: stopping it stops them too.

    An idle workspace stays idle only when each cluster is idle and not excluded; otherwise it is kept, with
    the reason naming the cluster.
    """
    if not verdict.idle or not clusters:
        return verdict
    for check in clusters:
        cluster = check.cluster
        if check.excluded_by is not None:
            reason = f"its Dask cluster {cluster.id} is excluded by {check.excluded_by!r}"
        elif check.verdict is None or not check.verdict.idle:
            why = check.verdict.reason if check.verdict is not None else "it was not judged"
            reason = f"its Dask cluster {cluster.id} is not idle: {why}"
        else:
            continue
        return Verdict(verdict.candidate, False, reason, verdict.up_for, verdict.cpu, verdict.gpu)
    names = ", ".join(check.cluster.id for check in clusters)
    reason = f"{verdict.reason}; its Dask cluster {names} too"
    return Verdict(verdict.candidate, True, reason, verdict.up_for, verdict.cpu, verdict.gpu)


def figure(value: float) -> str:
    """A number for a reason or a table, bounded in width whatever its size."""
    return f"{value:.2f}" if math.isfinite(value) and abs(value) < 1e6 else f"{value:.3g}"


def span(delta: timedelta) -> str:
    """A duration as ``1h05m`` or ``5m`` (``-`` before a negative one)."""
    if delta < timedelta(0):
        return "-" + span(-delta)
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
