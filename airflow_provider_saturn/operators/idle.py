"""Scheduled shutdown of Saturn resources that are really idle: up for a while, and using (almost) no CPU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.errors import SaturnError
from airflow_provider_saturn.client.wire import shorten
from airflow_provider_saturn.idleness import (
    DEFAULT_KINDS,
    KINDS,
    Candidate,
    ClusterCheck,
    Verdict,
    attached_clusters,
    candidate_of,
    decide_idle,
    excluded,
    figure,
    look_ahead,
    selected,
    with_clusters,
)
from airflow_provider_saturn.operators.base import SaturnBaseOperator
from airflow_provider_saturn.waiting import positive_seconds

if TYPE_CHECKING:
    from airflow_provider_saturn.client import AsyncSaturnClient
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


class SaturnIdleStopError(SaturnError):
    """Some stops of idle resources failed; the others were made. ``report`` holds every row, as logged."""

    def __init__(self, failed: list[dict[str, Any]], attempted: int, report: list[dict[str, Any]]) -> None:
        self.failed = failed
        self.report = report
        named = ", ".join(f"{row['kind']} {row['name']!r} ({row['id']})" for row in failed[:MAX_NAMED_FAILURES])
        more = f" and {len(failed) - MAX_NAMED_FAILURES} more" if len(failed) > MAX_NAMED_FAILURES else ""
        super().__init__(
            f"{len(failed)} of {attempted} stops of idle resources failed: {named}{more}."
            " Each row of the report in the task log says why; the other stops were made."
        )


def _failure(error: Exception) -> str:
    """Why a stop failed, for its row: a Saturn error's own words (ids, path, Saturn's message), bounded;
    of anything else its class only, as its text may hold anything."""
    if isinstance(error, SaturnError):
        return shorten(str(error), MAX_FAILURE_LENGTH)
    return f"unexpected {type(error).__name__}"


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return float(value)


def _entries(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Exclude entries: a string (as a template renders to) is one entry, not its characters."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(entry) for entry in value)


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

    Missing, partial, odd or stale metrics mean *not idle*, and the report says why. ``idle_by="uptime"``
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
    :param exclude: names, ids or ``"tag:key=value"`` never to stop; a string is one entry. Templated.
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
        now = datetime.now(UTC)
        scan = asyncio.run(self._scan(now))
        report = self._act_on(scan) + scan.kept_out
        self._log_table(report)
        failed = [row for row in report if row["action"] == STOP_FAILED]
        if failed:
            attempted = sum(row["action"] in (STOPPED, STOP_FAILED) for row in report)
            raise SaturnIdleStopError(failed, attempted, report)
        return report

    async def _scan(self, now: datetime) -> _Scan:
        """The verdicts on the selected candidates (their metrics read concurrently), and the excluded ones.

        A workspace idle by itself is then judged with its attached Dask clusters (read now if they were not
        among the candidates, whatever ``kinds`` says): stopping it stops them.
        """
        from airflow_provider_saturn.client.async_reads import active_resource_items

        client = self._async_client()
        try:
            items = await active_resource_items(client, list_by=self.list_by)
            candidates = [found for item in items if (found := candidate_of(item)) is not None]
            exclude = _entries(self.exclude)
            chosen, kept_out = [], []
            for candidate in candidates:
                if not selected(candidate, self.name_pattern, self.kinds):
                    continue
                entry = excluded(candidate, exclude)
                if entry is None:
                    chosen.append(candidate)
                else:
                    kept_out.append(_row(Verdict(candidate, False, f"excluded by {entry!r}"), "excluded"))
            slots = asyncio.Semaphore(self.max_concurrent_reads)
            verdicts = list(await asyncio.gather(*(self._judge(client, candidate, now, slots) for candidate in chosen)))
            attached = attached_clusters(items)
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
            more = await asyncio.gather(*(self._judge(client, cluster, now, slots) for cluster in unjudged.values()))
            clusters.update(zip(unjudged, more, strict=True))
        finally:
            await client.aclose()
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

    def _resolution(self) -> timedelta:
        """The step of the metrics asked for: a minute, or coarser so that a window is at most 500 points."""
        return timedelta(seconds=max(60, int(self.idle_for // MAX_METRIC_POINTS)))

    async def _judge(
        self, client: AsyncSaturnClient, candidate: Candidate, now: datetime, slots: asyncio.Semaphore
    ) -> Verdict:
        from airflow_provider_saturn.client.async_reads import resource_metrics

        by_uptime = self.idle_by == "uptime"
        resolution = self._resolution()
        metrics = None
        if not by_uptime:
            types = ("cpu", "gpu") if self.gpu_below is not None else ("cpu",)
            try:
                async with slots:
                    metrics = await resource_metrics(
                        client,
                        candidate.kind,
                        candidate.id,
                        types=types,
                        start=now - timedelta(seconds=self.idle_for),
                        end=now + look_ahead(resolution),  # a Saturn clock ahead of Airflow's shows as such
                        resolution_seconds=int(resolution.total_seconds()),
                    )
            except SaturnError as error:
                self.log.warning("Could not read the metrics of %s %s: %s", candidate.kind, candidate.id, error)
        return decide_idle(
            candidate,
            metrics,
            now=now,
            idle_for=timedelta(seconds=self.idle_for),
            cpu_below=self.cpu_below,
            gpu_below=self.gpu_below,
            by_uptime_only=by_uptime,
            resolution=resolution,
        )

    def _async_client(self) -> AsyncSaturnClient:
        from airflow_provider_saturn.client import AsyncSaturnClient
        from airflow_provider_saturn.client.credentials import resolve_credentials

        settings = self.hook.connection_settings()
        credentials = resolve_credentials(settings["url"], settings["api_token"])
        return AsyncSaturnClient(credentials, timeout=settings["timeout"], retry=settings["retry"])

    def _act_on(self, scan: _Scan) -> list[dict[str, Any]]:
        """Stop what is idle (workspaces first, so that their clusters go with them), a row for each verdict.

        A cluster that went with its workspace is not stopped again: its row says so, after its workspace's.
        A failed stop is a row of its own; the others go on.
        """
        rows: dict[int, dict[str, Any]] = {}
        went_with: dict[str, list[dict[str, Any]]] = {}
        for index, verdict in enumerate(scan.verdicts):
            if verdict.candidate.kind != "workspace":
                continue
            rows[index] = row = self._act(verdict)
            if row["action"] in WITH_WORKSPACE:
                went_with[verdict.candidate.id] = [
                    _companion_row(cluster, verdict.candidate, WITH_WORKSPACE[row["action"]])
                    for cluster in scan.companions.get(verdict.candidate.id, ())
                ]
        gone = {row["id"] for companions in went_with.values() for row in companions}
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
            self.log.warning("Could not stop %s %r (%s): %s", candidate.kind, candidate.name, candidate.id, why)
            return _row(verdict, STOP_FAILED, f"stop failed: {why}")
        return _row(verdict, STOPPED)

    def _log_table(self, report: list[dict[str, Any]]) -> None:
        if not report:
            self.log.info("No active %s matches %r", " or ".join(self.kinds), self.name_pattern)
            return
        self.log.info("%s", report_table(report))


@dataclass
class _Scan:
    """What one scan found: the verdicts on the selected candidates (workspaces judged with their clusters),
    the rows of the excluded ones, and by workspace the verdicts of the clusters that go when it stops."""

    verdicts: list[Verdict]
    kept_out: list[dict[str, Any]]
    companions: dict[str, list[Verdict]] = field(default_factory=dict)


def _row(verdict: Verdict, action: str, reason: str | None = None) -> dict[str, Any]:
    candidate = verdict.candidate
    return {
        "kind": candidate.kind,
        "id": candidate.id,
        "name": candidate.name,
        "owner": candidate.owner,
        "up_for": verdict.up_for.total_seconds() if verdict.up_for is not None else None,
        "cpu_avg": round(verdict.cpu.avg, 3) if verdict.cpu else None,
        "cpu_max": round(verdict.cpu.max, 3) if verdict.cpu else None,
        "gpu_max": round(verdict.gpu.max, 3) if verdict.gpu else None,
        "action": action,
        "reason": verdict.reason if reason is None else reason,
    }


def _companion_row(cluster: Verdict, workspace: Candidate, action: str) -> dict[str, Any]:
    """The row of a Dask cluster that stops (or would) with its workspace, not on its own."""
    return _row(cluster, action, f"with workspace {workspace.name!r} ({workspace.id}): {cluster.reason}")


COLUMNS = ("name", "kind", "owner", "up for", "CPU avg", "CPU max", "GPU max", "action", "reason")


def report_table(report: list[dict[str, Any]]) -> str:
    """The report as a plain-text table for the task log."""

    def cell(row: dict[str, Any], column: str) -> str:
        if column == "up for":
            return "?" if row["up_for"] is None else f"{row['up_for'] / 3600:.1f}h"
        if column in ("CPU avg", "CPU max", "GPU max"):
            value = row[{"CPU avg": "cpu_avg", "CPU max": "cpu_max", "GPU max": "gpu_max"}[column]]
            return "-" if value is None else figure(value)
        return str(row[column])

    rows = [COLUMNS, *[tuple(cell(row, column) for column in COLUMNS) for row in report]]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])
