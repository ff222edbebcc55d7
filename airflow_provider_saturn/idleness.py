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
- pods: a Dask cluster must say how many workers it runs (``n_workers``, a whole number of at least 0): an
  unreadable count means not idle, as its silent workers would go unnoticed;
- coverage: every pod's series covers the window from its start to its end, with no stretch longer than
  ``MAX_GAP_STEPS`` resolution steps without a point (at the start and inside), and its newest point is at most
  ``CLOCK_TOLERANCE`` and one step old;
- buckets: the pods' points are summed per time bucket of the resolution (points a few seconds apart are one
  bucket); a pod without a point in a bucket inside a tolerated gap counts with the larger of its neighbours;
- the last minutes at a fine resolution: the operator reads a window of at most 500 points, so one longer than
  500 minutes is read at a coarser step (``idle_for / 500``: 29 days, 83 minutes), and its newest point may be
  that old (one step and the tolerance; never the ``MAX_GAP_STEPS`` allowed inside). The operator then also
  reads the last :func:`recent_span` (one coarse step and the tolerance, at most ``MAX_RECENT_SPAN``) at
  ``FINE_RESOLUTION`` (a minute), judged by the same rules: recent activity is seen to the minute whatever
  ``idle_for`` is.

Clocks. Saturn's metrics come from range queries (``start``, ``end``, ``resolution``) that, like Prometheus's,
go on after the newest sample: a step evaluated after it still finds it within the lookback (5 minutes), so the
last value repeats up to the query's end. Points dated after Airflow's now are therefore judged like the
others, never a reason for *not idle* by themselves (a repeated value is harmless; real activity dated by a
clock ahead is seen and counted). Only a point dated after the end of what was asked for is (Saturn answered
something else). A Saturn clock off Airflow's is told by the ``Date`` header of Saturn's answers
(:mod:`~airflow_provider_saturn.client.server_clock`), not by its points:

- the first answer of a scan (its list of active resources) sets the time the scan judges in
  (:func:`scan_clock`). Within ``CLOCK_TOLERANCE`` of Airflow's clock: Airflow's now. Further off: Saturn's
  now, the safe and useful choice: every time Saturn gives (starts, points) is then judged against Saturn's
  own clock, so a start or a point is never taken as older than Saturn says, and the scan still stops what is
  idle (refusing everything would be as safe, and useless until someone fixes a clock). Reads go until
  ``look_ahead`` past the later of the two nows, so that activity is read whichever clock is right; if
  Saturn's metrics run on Airflow's time rather than the ``Date``'s, their newest point then reads as stale,
  or later than Saturn's now and counted: never hidden;
- each metrics answer's ``Date`` must agree with the time judged in, within ``CLOCK_TOLERANCE``
  (``clock_skew`` of :func:`decide_idle`): one that does not is not idle, with a reason naming the offset;
- without a readable ``Date`` (none, not an HTTP date, or an answer so slow that the reading is uncertain by
  more than ``MAX_CLOCK_UNCERTAINTY``), the scan judges in Airflow's time with the rules above and says so once
  in the task log: a Saturn clock more than ``CLOCK_TOLERANCE`` ahead could then hide the activity it dates
  past the end of the reads.

What ``exclude`` holds and matches is :mod:`airflow_provider_saturn.idle_exclusion`'s; text from Saturn shown
in a report goes through :func:`shown` (cut, control characters escaped).
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
FINE_RESOLUTION = DEFAULT_RESOLUTION
"""The step at which the last minutes of a coarse window are read again."""
MAX_RECENT_SPAN = timedelta(hours=6)
"""The longest stretch read again at ``FINE_RESOLUTION`` (360 points)."""
MIN_RESOLUTION = timedelta(seconds=1)
MAX_GAP_STEPS = 3
"""The longest stretch without a point a covered window may have, in resolution steps (two missed samples)."""
CLOCK_TOLERANCE = timedelta(minutes=2)
"""How far Saturn's clock may run ahead of or behind Airflow's (by its ``Date`` header) without changing the
time a scan judges in, and how far a metrics answer's ``Date`` may be from that time."""
MAX_CLOCK_UNCERTAINTY = timedelta(seconds=30)
"""A ``Date`` reading less certain than this (a slow answer) is not used."""
MAX_VALUE = 1e9
"""The most millicores one point of one pod may read (a million cores): more is no measurement."""
FUTURE_START = "start time is in the future"
# Statuses of a nested Dask cluster that run nothing: it need not be judged with its workspace.
NOT_RUNNING = frozenset({"stopping", "stopped", "error"})
WORKERS_UNREADABLE = "its worker count is unreadable (Saturn's n_workers), so silent workers could go unnoticed"
MAX_SHOWN = 80
"""The most characters of a name, an owner or an id from Saturn in a report, a log line or an error."""


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


def quoted(value: Any) -> str:
    """A value of the user's or Saturn's in a message: a text as its repr (bounded, on one line), anything else
    by its type (its repr could be huge, nest too deep, or fail)."""
    if isinstance(value, str):
        return shown(repr(value[: MAX_SHOWN + 1]))
    return f"a value of type {type(value).__name__}"


def selected(candidate: Candidate, name_pattern: str, kinds: Iterable[str]) -> bool:
    return candidate.kind in kinds and fnmatch.fnmatchcase(candidate.name, name_pattern)


def expected_pods(candidate: Candidate) -> int | None:
    """How many pods a resource runs, so that one without metrics is noticed: a workspace one, a Dask cluster
    its scheduler and workers (``None`` when Saturn's ``n_workers`` is no whole number of at least 0), a
    deployment its ``scale``; a job at least one."""
    raw = candidate.raw
    if candidate.kind == "dask_cluster":
        workers = raw.get("n_workers")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            return None
        return 1 + workers
    if candidate.kind == "deployment":
        scale = raw.get("scale")
        return scale if isinstance(scale, int) and not isinstance(scale, bool) and scale > 0 else 1
    return 1


def look_ahead(resolution: timedelta) -> timedelta:
    """How far past now the operator asks for metrics: a Saturn clock up to ``CLOCK_TOLERANCE`` ahead dates its
    newest points after now, and a few steps more leave room for them."""
    return CLOCK_TOLERANCE + MAX_GAP_STEPS * resolution


def read_end(latest_now: datetime, resolution: timedelta) -> datetime:
    """The end of a metrics read at ``resolution``: ``look_ahead`` past the later of Airflow's and Saturn's now."""
    return latest_now + look_ahead(resolution)


def recent_span(resolution: timedelta) -> timedelta:
    """How far back a coarse window's last minutes are read again at ``FINE_RESOLUTION``: one coarse step and the
    tolerance (as far back as its newest point may be), at most ``MAX_RECENT_SPAN``."""
    return min(resolution + CLOCK_TOLERANCE, MAX_RECENT_SPAN)


@dataclass(frozen=True)
class ScanClock:
    """The time a scan judges in (``now``), the later of Airflow's and Saturn's now (reads end ``look_ahead``
    past it), the offset judged with (Saturn's clock minus Airflow's; 0 within the tolerance) and whether
    Saturn's clock was known."""

    now: datetime
    latest_now: datetime
    offset: timedelta
    known: bool


def scan_clock(airflow_now: datetime, saturn_offset: timedelta | None) -> ScanClock:
    """The scan's clock from Airflow's now and Saturn's offset by its ``Date`` header (``None``: unknown)."""
    if saturn_offset is None or abs(saturn_offset) <= CLOCK_TOLERANCE:
        return ScanClock(airflow_now, airflow_now, timedelta(0), saturn_offset is not None)
    saturn_now = airflow_now + saturn_offset
    return ScanClock(saturn_now, max(airflow_now, saturn_now), saturn_offset, True)


def clock_words(offset: timedelta) -> str:
    """``"about 10m ahead of"`` or ``"about 10m behind"``: an offset to the minute (to the second under one)."""
    seconds = abs(offset.total_seconds())
    size = span(timedelta(minutes=round(seconds / 60))) if seconds >= 60 else f"{seconds:.0f}s"
    return f"about {size} {'ahead of' if offset > timedelta(0) else 'behind'}"


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


def _point_problem(moment: datetime | None, value: Any, now: datetime, asked_until: datetime) -> str | None:
    """Why one point is no measurement of use in the range asked for, or ``None``. A point dated after now but
    within the range is one (a range query repeats the last value up to its end)."""
    if moment is None:
        return "unreadable metrics"
    problem = _value_problem(value)
    if problem is None and moment > asked_until:
        problem = f"a point dated {span(moment - now)} in the future, after the end of the range asked for"
    return problem


def _pod_points(
    pod: Any, window_start: datetime, now: datetime, asked_until: datetime
) -> tuple[str, Reading | None, datetime | None, str | None]:
    """One pod's label, its points in the window, its oldest point, or what is wrong with it."""
    points = pod.get("data") if isinstance(pod, dict) else None
    name = pod.get("pod_name") if isinstance(pod, dict) else None
    label = shown(str(name)) if name else "?"
    if not isinstance(points, list) or not points:
        return label, None, None, f"no metrics for pod {label}"
    reading: Reading = []
    oldest: datetime | None = None
    for point in points:
        moment = parse_time(point.get("datetime")) if isinstance(point, dict) else None
        value: Any = point.get("value") if isinstance(point, dict) else None
        problem = _point_problem(moment, value, now, asked_until)
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
    stale = CLOCK_TOLERANCE + resolution
    if now - last > stale:
        return (
            f"the newest point of pod {label} is {span(now - last)} old (at most {span(stale)}):"
            " its metrics late, or Saturn's clock behind"
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
    asked_until: datetime | None = None,
) -> tuple[Usage | None, datetime | None, str | None]:
    """Summed use (cores) from a list of MetricSeries over the window; the oldest point; or what is missing.

    Points are summed across pods per time bucket of ``resolution``; the peak is the largest sum. A list
    without any series, a pod without points, fewer pods with series than the resource runs (``pods``), a
    value that is no measurement, a pod whose points do not cover the window, or a point dated after the end
    of the range asked for (``asked_until``; by default ``look_ahead`` past ``now``) is missing metrics (see
    the module's rule).
    """
    asked_until = asked_until if asked_until is not None else read_end(now, resolution)
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
        label, reading, pod_oldest, problem = _pod_points(pod, window_start, now, asked_until)
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
    recent: dict[str, Any] | None = None,
    latest_now: datetime | None = None,
    clock_skew: timedelta | None = None,
) -> Verdict:
    """Whether ``candidate`` is idle, from its start and its ``metrics`` (a Metrics answer, or ``None``).

    :param now: the time judged in (Saturn's, when its clock is off: see :func:`scan_clock`).
    :param resolution: the step of ``metrics``, read from ``now - idle_for`` to :func:`read_end`.
    :param recent: with a coarse ``resolution``, the Metrics answer of the last :func:`recent_span` at
        ``FINE_RESOLUTION``, judged by the same rules (its peak counts).
    :param latest_now: the later of Airflow's and Saturn's now, from which the reads' ends follow (default:
        ``now``).
    :param clock_skew: how far the ``Date`` of the metrics answers is from ``now`` (``None``: unknown).
    """
    window_start = now - idle_for
    latest = max(now, latest_now) if latest_now is not None else now
    if candidate.started_at is not None and candidate.started_at > now:
        return Verdict(candidate, False, FUTURE_START)
    up_for = now - candidate.started_at if candidate.started_at is not None else None
    if by_uptime_only:
        if up_for is None:
            return Verdict(candidate, False, "Saturn gives no start time (uptime is never guessed)")
        if up_for < idle_for:
            return Verdict(candidate, False, f"up for {span(up_for)} only", up_for)
        return Verdict(candidate, True, f"up for {span(up_for)}, at least {span(idle_for)}", up_for)
    if not isinstance(metrics, dict) or (recent is not None and not isinstance(recent, dict)):
        return Verdict(candidate, False, "its metrics could not be read", up_for)
    if clock_skew is not None and abs(clock_skew) > CLOCK_TOLERANCE:
        reason = (
            f"Saturn's clock, by the Date header of its metrics answer, is {clock_words(clock_skew)} the time"
            f" judged in (more than {span(CLOCK_TOLERANCE)}: recent activity could be hidden)"
        )
        return Verdict(candidate, False, reason, up_for)
    pods = expected_pods(candidate)
    if pods is None:
        return Verdict(candidate, False, WORKERS_UNREADABLE, up_for)
    reads = _Reads(metrics, recent, window_start, pods, now, latest, resolution)
    cpu, oldest, missing = reads.use("cpu")
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
        gpu, _, gpu_missing = reads.use("gpu")
        if gpu_missing is not None or gpu is None:
            return Verdict(candidate, False, f"GPU: {gpu_missing}", up_for, cpu)
        if gpu.max >= gpu_below:
            reason = f"GPU reached {figure(gpu.max)} (limit {gpu_below:g})"
            return Verdict(candidate, False, reason, up_for, cpu, gpu)
    reason = f"CPU below {cpu_below:g} cores for {span(idle_for)} (peak {figure(cpu.max)})"
    return Verdict(candidate, True, reason, up_for, cpu, gpu)


@dataclass(frozen=True)
class _Reads:
    """A resource's metrics answers (the window, and with a coarse one its last minutes at a fine step), as
    :func:`decide_idle` judges them."""

    metrics: dict[str, Any]
    recent: dict[str, Any] | None
    window_start: datetime
    pods: int
    now: datetime
    latest_now: datetime
    resolution: timedelta

    def use(self, metric: str) -> tuple[Usage | None, datetime | None, str | None]:
        """The use of ``metric`` over the window (its peak also over the last minutes), its oldest point, or
        what is missing."""
        found, oldest, missing = usage(
            self.metrics.get(metric),
            self.window_start,
            self.pods,
            now=self.now,
            resolution=self.resolution,
            asked_until=read_end(self.latest_now, self.resolution),
        )
        if missing is not None or found is None or self.recent is None:
            return found, oldest, missing
        last = recent_span(self.resolution)
        fine, _, fine_missing = usage(
            self.recent.get(metric),
            self.now - last,
            self.pods,
            now=self.now,
            resolution=FINE_RESOLUTION,
            asked_until=read_end(self.latest_now, FINE_RESOLUTION),
        )
        if fine_missing is not None or fine is None:
            return found, oldest, f"{fine_missing} (the recent {span(last)}, read at {span(FINE_RESOLUTION)} steps)"
        return Usage(avg=found.avg, max=max(found.max, fine.max)), oldest, None


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
            reason = f"its Dask cluster {shown(cluster.id)} is excluded by {quoted(check.excluded_by)}"
        elif check.verdict is None or not check.verdict.idle:
            why = check.verdict.reason if check.verdict is not None else "it was not judged"
            reason = f"its Dask cluster {shown(cluster.id)} is not idle: {why}"
        else:
            continue
        return Verdict(verdict.candidate, False, reason, verdict.up_for, verdict.cpu, verdict.gpu)
    names = ", ".join(shown(check.cluster.id) for check in clusters)
    reason = f"{verdict.reason}; its Dask cluster {names} too"
    return Verdict(verdict.candidate, True, reason, verdict.up_for, verdict.cpu, verdict.gpu)


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """Text from Saturn or the user (a name, an owner, an id, a reason) fit for a report, a log line or an
    error: control characters escaped as ``repr`` does them (no newline can forge a line), cut to ``limit``."""
    head = text[: limit + 1]  # the rest is cut anyway: bounded work whatever comes
    escaped = "".join(char if char.isprintable() else repr(char)[1:-1] for char in head)
    return escaped if len(text) <= limit and len(escaped) <= limit else shorten(escaped, limit)


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
