"""Scheduled shutdown of Saturn resources that are really idle: up for a while, and using (almost) no CPU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.idleness import (
    DEFAULT_KINDS,
    KINDS,
    Candidate,
    Verdict,
    candidate_of,
    decide_idle,
    excluded,
    selected,
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
    - with ``gpu_below``, its GPU stayed below that too.

    Missing or partial metrics mean *not idle*, and the report says why. ``idle_by="uptime"`` leaves CPU out
    (up for ``idle_for`` is enough), for those who want the old rule.

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
        ``"kept"``, ``"excluded"``) and ``reason``. The task log shows them as a table.
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
        verdicts, kept_out = asyncio.run(self._scan(now))
        report = [self._act(verdict) for verdict in verdicts] + kept_out
        self._log_table(report)
        return report

    async def _scan(self, now: datetime) -> tuple[list[Verdict], list[dict[str, Any]]]:
        """The verdicts on the selected candidates (their metrics read concurrently), and the excluded ones."""
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
            verdicts = await asyncio.gather(*(self._judge(client, candidate, now, slots) for candidate in chosen))
            return list(verdicts), kept_out
        finally:
            await client.aclose()

    async def _judge(
        self, client: AsyncSaturnClient, candidate: Candidate, now: datetime, slots: asyncio.Semaphore
    ) -> Verdict:
        from airflow_provider_saturn.client.async_reads import resource_metrics
        from airflow_provider_saturn.client.errors import SaturnError

        by_uptime = self.idle_by == "uptime"
        metrics = None
        if not by_uptime:
            resolution = max(60, int(self.idle_for // MAX_METRIC_POINTS))
            types = ("cpu", "gpu") if self.gpu_below is not None else ("cpu",)
            try:
                async with slots:
                    metrics = await resource_metrics(
                        client,
                        candidate.kind,
                        candidate.id,
                        types=types,
                        start=now - timedelta(seconds=self.idle_for),
                        end=now,
                        resolution_seconds=resolution,
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
        )

    def _async_client(self) -> AsyncSaturnClient:
        from airflow_provider_saturn.client import AsyncSaturnClient
        from airflow_provider_saturn.client.credentials import resolve_credentials

        settings = self.hook.connection_settings()
        credentials = resolve_credentials(settings["url"], settings["api_token"])
        return AsyncSaturnClient(credentials, timeout=settings["timeout"], retry=settings["retry"])

    def _act(self, verdict: Verdict) -> dict[str, Any]:
        """Stop an idle resource (unless a dry run); the report row either way."""
        if not verdict.idle:
            return _row(verdict, "kept")
        if self.report_only:
            return _row(verdict, "would stop")
        candidate = verdict.candidate
        getattr(self.hook, STOPS[candidate.kind])(candidate.id)
        return _row(verdict, "stopped")

    def _log_table(self, report: list[dict[str, Any]]) -> None:
        if not report:
            self.log.info("No active %s matches %r", " or ".join(self.kinds), self.name_pattern)
            return
        self.log.info("%s", report_table(report))


def _row(verdict: Verdict, action: str) -> dict[str, Any]:
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
        "reason": verdict.reason,
    }


COLUMNS = ("name", "kind", "owner", "up for", "CPU avg", "CPU max", "GPU max", "action", "reason")


def report_table(report: list[dict[str, Any]]) -> str:
    """The report as a plain-text table for the task log."""

    def cell(row: dict[str, Any], column: str) -> str:
        if column == "up for":
            return "?" if row["up_for"] is None else f"{row['up_for'] / 3600:.1f}h"
        if column in ("CPU avg", "CPU max", "GPU max"):
            value = row[{"CPU avg": "cpu_avg", "CPU max": "cpu_max", "GPU max": "gpu_max"}[column]]
            return "-" if value is None else f"{value:.2f}"
        return str(row[column])

    rows = [COLUMNS, *[tuple(cell(row, column) for column in COLUMNS) for row in report]]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])
