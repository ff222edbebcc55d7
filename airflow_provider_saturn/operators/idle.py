"""Scheduled shutdown of Saturn resources that are really idle: up for a while, and using (almost) no CPU.

The rule, Saturn's clock included, is :mod:`airflow_provider_saturn.idleness`'s; this module reads Saturn (one
scan: its list of active resources, then the metrics of each candidate), stops what is idle and reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.errors import SaturnError
from airflow_provider_saturn.client.wire import listed
from airflow_provider_saturn.idle_exclusion import exclude_entries, excluded, unmatched
from airflow_provider_saturn.idleness import (
    CLOCK_TOLERANCE,
    DEFAULT_KINDS,
    FINE_RESOLUTION,
    KINDS,
    MAX_CLOCK_UNCERTAINTY,
    Candidate,
    ClusterCheck,
    ScanClock,
    Verdict,
    attached_clusters,
    candidate_of,
    clock_words,
    decide_idle,
    figure,
    quoted,
    read_end,
    recent_span,
    scan_clock,
    selected,
    shown,
    span,
    with_clusters,
)
from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.waiting import positive_seconds

if TYPE_CHECKING:
    from airflow_provider_saturn.client import AsyncSaturnClient
    from airflow_provider_saturn.client.server_clock import ClockReading
    from airflow_provider_saturn.compat import Context

LIST_BY = ("owner", "org", "account")
IDLE_BY = ("metrics", "uptime")
MAX_METRIC_POINTS = 500  # points per series asked for; the resolution follows from idle_for
STOPS = {
    "workspace": "stop_jupyter_server",  # and with it its Dask cluster
    "dask_cluster": "stop_dask_cluster",
    "deployment": "stop_deployment",
    "job": "stop_job",  # every run of the job
}
STOPPED, WOULD_STOP, STOP_FAILED = "stopped", "would stop", "stop failed"
WITH_WORKSPACE = {STOPPED: "stopped with its workspace", WOULD_STOP: "would stop with its workspace"}
MAX_NAMED_FAILURES = 20  # stops named in the task's error; the table has them all
MAX_FAILURE_LENGTH = 300  # characters of a failed stop's error in its row
MAX_REASON_LENGTH = 1000  # characters of a row's reason, and of a cell of the table
MAX_NAMED_ENTRIES = 20  # exclude entries named in the warning about those that match nothing
NO_DATE = (
    "Saturn's answers carry no readable Date header (or came too slowly to read its clock): the scan judges in"
    f" Airflow's time, and a Saturn clock more than {span(CLOCK_TOLERANCE)} ahead could hide the activity it"
    " dates last"
)


class SaturnIdleStopError(SaturnError):
    """Some stops of idle resources failed; the others were made. ``report`` holds every row, as logged."""

    def __init__(self, failed: list[dict[str, Any]], attempted: int, report: list[dict[str, Any]]) -> None:
        self.failed = failed
        self.report = report
        named = listed(
            [f"{shown(str(row['kind']))} '{shown(str(row['name']))}' ({shown(str(row['id']))})" for row in failed],
            MAX_NAMED_FAILURES,
        )
        super().__init__(
            f"{len(failed)} of {attempted} stops of idle resources failed: {named}."
            " Each row of the report in the task log says why; the other stops were made."
        )


def _failure(error: Exception) -> str:
    """Why a stop failed, for its row: a Saturn error's own words (ids, path, Saturn's message), bounded;
    of anything else its class only, as its text may hold anything."""
    if isinstance(error, SaturnError):
        return shown(str(error), MAX_FAILURE_LENGTH)
    return f"unexpected {type(error).__name__}"


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return float(value)


class SaturnStopIdleResourcesOperator(SaturnBaseOperator):
    """Stop the Saturn resources that are really idle, with one scan of Saturn's active resources.

    A resource is idle when all hold (see :mod:`airflow_provider_saturn.idleness`):

    - it has been up for at least ``idle_for``, by a start Saturn gives (never guessed);
    - its CPU, summed over its pods (a Dask cluster counts scheduler and workers), stayed below
      ``cpu_below`` cores at every point of the last ``idle_for``;
    - with ``gpu_below``, its GPU stayed below that too;
    - a workspace: its attached Dask cluster, if running, is idle by the same rule and not excluded, whatever
      ``kinds`` says (stopping a workspace stops its cluster). Such a cluster's row says it stopped *with its
      workspace*; it is never stopped a second time.

    Missing, partial, odd or stale metrics mean *not idle*, and the report says why. Saturn's clock is read from
    the ``Date`` header of its answers: more than 2 minutes off Airflow's, the scan judges in Saturn's time;
    a metrics answer dated off that time is not idle. A window longer than 500 minutes is read at a coarser
    step, and its last minutes again at one minute. ``idle_by="uptime"``
    leaves CPU out (up for ``idle_for`` is enough), for those who want the old rule; a workspace with a
    running cluster is then kept, as a cluster gives no start time.

    A stop that fails is a row of its own (``"stop failed"`` and why); the other stops go on, the table is
    logged, and the task then fails with one :class:`SaturnIdleStopError` naming every stop that failed.

    Candidates come from one paged read of ``/api/active/resources`` (``list_by``: the token's own
    resources, ``"org"`` or ``"account"`` for admins), then one metrics read per candidate, several at once.
    ``kinds`` defaults to workspaces and Dask clusters: the resources people forget. Deployments serve
    (idle CPU is normal for a dashboard at night) and job runs end by themselves, so they are stopped only
    when asked for.

    :param idle_for: required: how long a resource must have been up, and idle (seconds or ``timedelta``).
    :param cpu_below: CPU, in cores summed over the pods, that an idle resource stays below (default 0.1).
    :param gpu_below: GPU (in Saturn's units, summed over the pods) that an idle resource stays below;
        ``None`` (default) does not look at GPUs.
    :param kinds: among ``"workspace"``, ``"dask_cluster"``, ``"deployment"``, ``"job"``.
    :param list_by: ``"owner"`` (default), ``"org"`` or ``"account"``.
    :param idle_by: ``"metrics"`` (default) or ``"uptime"``.
    :param name_pattern: only resources whose name matches this glob (default ``"*"``). Templated.
    :param exclude: what never to stop: name or id globs (as ``name_pattern``), ``"tag:key"`` (has the tag) or
        ``"tag:key=value"``. A string is one entry, or a list when it starts with ``[`` (what a template makes
        of a list: read as JSON or a Python literal, and refused if it is neither). An entry that matches no
        active resource is logged as a warning. Templated.
    :param dry_run: only report what would be stopped.
    :param max_concurrent_reads: metrics reads in flight at once (default 16).
    :return: one dict per candidate: ``kind``, ``id``, ``name``, ``owner``, ``up_for`` (seconds),
        ``cpu_avg``, ``cpu_max``, ``gpu_max`` (cores), ``action`` (``"stopped"``, ``"would stop"``,
        ``"stopped with its workspace"``, ``"would stop with its workspace"``, ``"kept"``, ``"excluded"``,
        ``"stop failed"``) and ``reason``. The task log shows them as a table.
    """

    template_fields: Sequence[str] = ("name_pattern", "exclude", "saturn_conn_id")
    operator_extra_links = ()  # acts on many resources, not one page

    def __init__(
        self,
        *,
        idle_for: float | timedelta | None = None,
        cpu_below: float = 0.1,
        gpu_below: float | None = None,
        kinds: Sequence[str] = DEFAULT_KINDS,
        list_by: str = "owner",
        idle_by: str = "metrics",
        name_pattern: str = "*",
        exclude: str | Sequence[str] | None = None,
        dry_run: bool = False,
        max_concurrent_reads: int = 16,
        older_than: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if older_than is not None:  # the earlier rule: up for a while is enough
            if idle_for is not None:
                raise ValueError("Pass idle_for, or its earlier form older_than (uptime only), not both")
            idle_for, idle_by = older_than, "uptime"
        if idle_for is None:
            raise ValueError("idle_for is required: how long a resource must have been up, and idle")
        self.idle_for = positive_seconds("idle_for", idle_for)
        self.cpu_below = _positive("cpu_below", cpu_below)
        self.gpu_below = _positive("gpu_below", gpu_below) if gpu_below is not None else None
        unknown = set(kinds) - set(KINDS.values())
        if unknown or not kinds:
            raise ValueError(f"kinds must be some of {sorted(KINDS.values())}, not {list(kinds)!r}")
        if list_by not in LIST_BY:
            raise ValueError(f"list_by must be one of {list(LIST_BY)}, not {list_by!r}")
        if idle_by not in IDLE_BY:
            raise ValueError(f"idle_by must be one of {list(IDLE_BY)}, not {idle_by!r}")
        if (
            isinstance(max_concurrent_reads, bool)
            or not isinstance(max_concurrent_reads, int)
            or max_concurrent_reads < 1
        ):
            raise ValueError(f"max_concurrent_reads must be a whole number >= 1, not {max_concurrent_reads!r}")
        self.kinds = tuple(kinds)
        self.list_by = list_by
        self.idle_by = idle_by
        self.name_pattern = name_pattern
        self.exclude = exclude  # normalised when the task runs: it may render to a string
        self.report_only = dry_run  # BaseOperator.dry_run is a method
        self.max_concurrent_reads = max_concurrent_reads

    def execute(self, context: Context) -> list[dict[str, Any]]:
        exclude = exclude_entries(self.exclude)  # read as meant, or refused, before anything is read or stopped
        now = datetime.now(UTC)
        scan = asyncio.run(self._scan(now, exclude))
        report = self._act_on(scan) + scan.kept_out
        self._log_table(report)
        failed = [row for row in report if row["action"] == STOP_FAILED]
        if failed:
            attempted = sum(row["action"] in (STOPPED, STOP_FAILED) for row in report)
            raise SaturnIdleStopError(failed, attempted, report)
        return report

    async def _scan(self, now: datetime, exclude: tuple[str, ...]) -> _Scan:
        """The verdicts on the selected candidates (their metrics read concurrently), and the excluded ones.

        A workspace idle by itself is then judged with its attached Dask clusters (read now if they were not
        among the candidates, whatever ``kinds`` says): stopping it stops them. The time judged in follows
        Saturn's clock, by the ``Date`` header of its list of active resources (see :func:`scan_clock`).
        """
        from airflow_provider_saturn.client.async_reads import active_resource_items

        client = self._async_client()
        try:
            items, reading = await active_resource_items(client, list_by=self.list_by)
            clocks = _Clocks(self._scan_clock(now, reading))
            candidates = [found for item in items if (found := candidate_of(item)) is not None]
            attached = attached_clusters(items)
            self._warn_unmatched(exclude, [*candidates, *(c for found in attached.values() for c in found)])
            chosen, kept_out = [], []
            for candidate in candidates:
                if not selected(candidate, self.name_pattern, self.kinds):
                    continue
                entry = excluded(candidate, exclude)
                if entry is None:
                    chosen.append(candidate)
                else:
                    kept_out.append(_row(Verdict(candidate, False, f"excluded by {quoted(entry)}"), "excluded"))
            slots = asyncio.Semaphore(self.max_concurrent_reads)
            verdicts = list(
                await asyncio.gather(*(self._judge(client, candidate, clocks, slots) for candidate in chosen))
            )
            clusters = {
                verdict.candidate.id: verdict for verdict in verdicts if verdict.candidate.kind == "dask_cluster"
            }
            unjudged = {
                cluster.id: cluster
                for verdict in verdicts
                if verdict.candidate.kind == "workspace" and verdict.idle
                for cluster in attached.get(verdict.candidate.id, ())
                if cluster.id not in clusters and excluded(cluster, exclude) is None
            }
            more = await asyncio.gather(*(self._judge(client, cluster, clocks, slots) for cluster in unjudged.values()))
            clusters.update(zip(unjudged, more, strict=True))
        finally:
            await client.aclose()
        if clocks.scan.known and clocks.dateless:
            self.log.warning("%s (%d metrics answers)", NO_DATE, clocks.dateless)
        companions: dict[str, list[Verdict]] = {}
        for index, verdict in enumerate(verdicts):
            workspace_id = verdict.candidate.id
            if verdict.candidate.kind == "workspace" and attached.get(workspace_id):
                checks = [
                    ClusterCheck(cluster, clusters.get(cluster.id), excluded(cluster, exclude))
                    for cluster in attached[workspace_id]
                ]
                verdicts[index] = with_clusters(verdict, checks)
                if verdicts[index].idle:  # then every cluster was judged idle: they go with it
                    companions[workspace_id] = [check.verdict for check in checks if check.verdict is not None]
        return _Scan(verdicts, kept_out, companions)

    def _scan_clock(self, now: datetime, reading: ClockReading | None) -> ScanClock:
        """The time the scan judges in, by the ``Date`` of Saturn's list of active resources (logged when off,
        or when it cannot be read)."""
        usable = reading if reading is not None and reading.uncertainty <= MAX_CLOCK_UNCERTAINTY else None
        clock = scan_clock(now, usable.offset if usable is not None else None)
        if not clock.known:
            self.log.warning("%s", NO_DATE)
        elif clock.offset:
            self.log.warning(
                "Saturn's clock is %s Airflow's (by the Date header of its list of active resources): the scan"
                " judges in Saturn's time, and reads until the later of both clocks' now",
                clock_words(clock.offset),
            )
        return clock

    def _warn_unmatched(self, exclude: Sequence[str], candidates: Iterable[Candidate]) -> None:
        """Log the exclude entries that match no active resource (a typo keeps nothing)."""
        missing = unmatched(exclude, candidates)
        if missing:
            named = listed([quoted(entry) for entry in missing], MAX_NAMED_ENTRIES)
            self.log.warning("These exclude entries match no active resource (a typo?): %s", named)

    def _resolution(self) -> timedelta:
        """The step of the metrics asked for: a minute, or coarser so that a window is at most 500 points."""
        return timedelta(seconds=max(60, int(self.idle_for // MAX_METRIC_POINTS)))

    async def _judge(
        self, client: AsyncSaturnClient, candidate: Candidate, clocks: _Clocks, slots: asyncio.Semaphore
    ) -> Verdict:
        """A candidate's verdict, from its metrics over the window (and, when the window is read at a coarse
        step, its last minutes again at a minute), judged in the scan's time."""
        clock = clocks.scan
        by_uptime = self.idle_by == "uptime"
        resolution = self._resolution()
        idle_for = timedelta(seconds=self.idle_for)
        metrics = recent = None
        readings: list[ClockReading | None] = []
        if not by_uptime:
            try:
                async with slots:
                    metrics, reading = await self._read(client, candidate, clock.now - idle_for, clock, resolution)
                    readings.append(reading)
                    if resolution > FINE_RESOLUTION:
                        start = clock.now - recent_span(resolution)
                        recent, reading = await self._read(client, candidate, start, clock, FINE_RESOLUTION)
                        readings.append(reading)
            except SaturnError as error:
                metrics = None  # the window's read may have come, its last minutes' not: not idle either way
                why = shown(str(error), MAX_FAILURE_LENGTH)
                self.log.warning("Could not read the metrics of %s %s: %s", candidate.kind, shown(candidate.id), why)
        return decide_idle(
            candidate,
            metrics,
            now=clock.now,
            idle_for=idle_for,
            cpu_below=self.cpu_below,
            gpu_below=self.gpu_below,
            by_uptime_only=by_uptime,
            resolution=resolution,
            recent=recent,
            latest_now=clock.latest_now,
            clock_skew=clocks.skew(readings),
        )

    async def _read(
        self, client: AsyncSaturnClient, candidate: Candidate, start: datetime, clock: ScanClock, step: timedelta
    ) -> tuple[dict[str, Any], ClockReading | None]:
        """One metrics read from ``start`` to :func:`read_end` at ``step``, and Saturn's clock by its answer."""
        from airflow_provider_saturn.client.async_reads import resource_metrics

        return await resource_metrics(
            client,
            candidate.kind,
            candidate.id,
            types=("cpu", "gpu") if self.gpu_below is not None else ("cpu",),
            start=start,
            end=read_end(clock.latest_now, step),
            resolution_seconds=int(step.total_seconds()),
        )

    def _async_client(self) -> AsyncSaturnClient:
        from airflow_provider_saturn.client import AsyncSaturnClient
        from airflow_provider_saturn.client.credentials import resolve_credentials

        settings = self.hook.connection_settings()
        credentials = resolve_credentials(settings["url"], settings["api_token"])
        return AsyncSaturnClient(credentials, timeout=settings["timeout"], retry=settings["retry"])

    def _act_on(self, scan: _Scan) -> list[dict[str, Any]]:
        """Stop what is idle (workspaces first, so that their clusters go with them), a row for each verdict.

        A cluster that went with its workspace is not stopped again: its row says so, once, after the row of the
        first workspace that took it (two workspaces may claim one cluster). A failed stop is a row of its own;
        the others go on.
        """
        rows: dict[int, dict[str, Any]] = {}
        went_with: dict[str, list[dict[str, Any]]] = {}
        gone: set[str] = set()  # ids of the clusters that went (or would go) with a workspace
        for index, verdict in enumerate(scan.verdicts):
            if verdict.candidate.kind != "workspace":
                continue
            rows[index] = row = self._act(verdict)
            if row["action"] in WITH_WORKSPACE:
                clusters = [
                    cluster
                    for cluster in scan.companions.get(verdict.candidate.id, ())
                    if cluster.candidate.id not in gone
                ]
                gone.update(cluster.candidate.id for cluster in clusters)
                went_with[verdict.candidate.id] = [
                    _companion_row(cluster, verdict.candidate, WITH_WORKSPACE[row["action"]]) for cluster in clusters
                ]
        report: list[dict[str, Any]] = []
        for index, verdict in enumerate(scan.verdicts):
            candidate = verdict.candidate
            if candidate.kind == "dask_cluster" and candidate.id in gone:
                continue  # stopped with its workspace: its row follows that one
            report.append(rows[index] if index in rows else self._act(verdict))
            report.extend(went_with.get(candidate.id, ()) if candidate.kind == "workspace" else ())
        return report

    def _act(self, verdict: Verdict) -> dict[str, Any]:
        """Stop an idle resource (unless a dry run); the report row either way, a failed stop's included."""
        if not verdict.idle:
            return _row(verdict, "kept")
        if self.report_only:
            return _row(verdict, WOULD_STOP)
        candidate = verdict.candidate
        try:
            getattr(self.hook, STOPS[candidate.kind])(candidate.id)
        except Exception as error:  # one failed stop never ends the scan: it is named at the end
            why = _failure(error)
            name, resource_id = shown(candidate.name), shown(candidate.id)
            self.log.warning("Could not stop %s '%s' (%s): %s", candidate.kind, name, resource_id, why)
            return _row(verdict, STOP_FAILED, f"stop failed: {why}")
        return _row(verdict, STOPPED)

    def _log_table(self, report: list[dict[str, Any]]) -> None:
        if not report:
            self.log.info("No active %s matches %r", " or ".join(self.kinds), self.name_pattern)
            return
        self.log.info("%s", report_table(report))


@dataclass
class _Clocks:
    """The scan's clock, and how many metrics answers came without a usable ``Date`` (to say so once)."""

    scan: ScanClock
    dateless: int = 0

    def skew(self, readings: Sequence[ClockReading | None]) -> timedelta | None:
        """How far the ``Date`` of a resource's metrics answers is from the time judged in (the largest);
        ``None`` when none can be read."""
        usable = [found for found in readings if found is not None and found.uncertainty <= MAX_CLOCK_UNCERTAINTY]
        self.dateless += len(readings) - len(usable)
        skews = [reading.offset - self.scan.offset for reading in usable]
        return max(skews, key=abs) if skews else None


@dataclass
class _Scan:
    """What one scan found: the verdicts on the selected candidates (workspaces judged with their clusters),
    the rows of the excluded ones, and by workspace the verdicts of the clusters that go when it stops."""

    verdicts: list[Verdict]
    kept_out: list[dict[str, Any]]
    companions: dict[str, list[Verdict]] = field(default_factory=dict)


def _row(verdict: Verdict, action: str, reason: str | None = None) -> dict[str, Any]:
    """A report row; what comes from Saturn (names, owners, ids, its words in reasons) cut and escaped."""
    candidate = verdict.candidate
    return {
        "kind": candidate.kind,
        "id": shown(candidate.id),
        "name": shown(candidate.name),
        "owner": shown(candidate.owner),
        "up_for": verdict.up_for.total_seconds() if verdict.up_for is not None else None,
        "cpu_avg": round(verdict.cpu.avg, 3) if verdict.cpu else None,
        "cpu_max": round(verdict.cpu.max, 3) if verdict.cpu else None,
        "gpu_max": round(verdict.gpu.max, 3) if verdict.gpu else None,
        "action": action,
        "reason": shown(verdict.reason if reason is None else reason, MAX_REASON_LENGTH),
    }


def _companion_row(cluster: Verdict, workspace: Candidate, action: str) -> dict[str, Any]:
    """The row of a Dask cluster that stops (or would) with its workspace, not on its own."""
    return _row(cluster, action, f"with workspace '{shown(workspace.name)}' ({shown(workspace.id)}): {cluster.reason}")


COLUMNS = ("name", "kind", "owner", "up for", "CPU avg", "CPU max", "GPU max", "action", "reason")


def report_table(report: list[dict[str, Any]]) -> str:
    """The report as a plain-text table for the task log."""

    def cell(row: dict[str, Any], column: str) -> str:
        if column == "up for":
            return "?" if row["up_for"] is None else f"{row['up_for'] / 3600:.1f}h"
        if column in ("CPU avg", "CPU max", "GPU max"):
            value = row[{"CPU avg": "cpu_avg", "CPU max": "cpu_max", "GPU max": "gpu_max"}[column]]
            return "-" if value is None else figure(value)
        return shown(str(row[column]), MAX_REASON_LENGTH)  # no newline from Saturn forges a line

    rows = [COLUMNS, *[tuple(cell(row, column) for column in COLUMNS) for row in report]]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])
