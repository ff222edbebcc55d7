"""Turning benchmark results into rows: measure, figure, goal, and whether the goal was met."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.client_overhead import ClientOverhead
from benchmarks.import_cost import ImportCost
from benchmarks.job_wait_requests import HISTORY_ROUTE, LOGS_ROUTE, STATUS_ROUTE, JobWaitRequests
from benchmarks.wait_scale import WaitScale

OURS = "airflow-provider-saturn (operators + sensors)"
DBT = "apache-airflow-providers-dbt-cloud (operators)"


@dataclass
class Row:
    measure: str
    figure: str
    goal: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


def import_rows(costs: list[ImportCost]) -> list[Row]:
    by_subject = {cost.subject: cost for cost in costs}
    rows = []
    for cost in costs:
        heavy = ", ".join(cost.heavy_modules) or "none"
        figure = (
            f"{1000 * cost.median_seconds:.1f} ms, median of {cost.runs} ({cost.modules_added} modules; heavy: {heavy})"
        )
        rows.append(Row(f"Import cost: {cost.subject}", figure))
    ours, dbt = by_subject[OURS], by_subject[DBT]
    share = ours.median_seconds / dbt.median_seconds
    rows.append(Row("Import cost: ours / dbt Cloud", f"{100 * share:.1f}%", "< 10%", share < 0.10))
    heavy = ", ".join(ours.heavy_modules) or "none imported"
    rows.append(
        Row("Import cost: HTTP stacks, tenacity, emulator", heavy, "deferred to first use", not ours.heavy_modules)
    )
    return rows


def scale_rows(scale: WaitScale) -> list[Row]:
    label = f"Deferred waits, N={scale.waits:,}"
    at_goal_size = scale.waits == 5000
    requests = (
        f"{scale.requests_per_wait_per_interval:.2f} ({scale.requests:,} of at most {scale.max_requests_allowed:,})"
    )
    delay = f"median {scale.delay_median_s:.1f} s, p95 {scale.delay_p95_s:.1f} s"
    return [
        Row(
            f"{label}: added peak RSS",
            f"{scale.added_peak_rss_mb:.1f} MB ({scale.kib_per_wait:.1f} KiB per wait)",
            "< 100 MB" if at_goal_size else "",
            scale.added_peak_rss_mb < 100 if at_goal_size else None,
        ),
        Row(f"{label}: CPU per poll", f"{scale.cpu_ms_per_poll:.2f} ms ({scale.cpu_seconds:.1f} s in all)"),
        Row(
            f"{label}: requests per wait per poll interval", requests, "<= 1", scale.requests_per_wait_per_interval <= 1
        ),
        Row(f"{label}: TCP connections opened", str(scale.connections), "pooled", scale.connections < scale.waits),
        Row(
            f"{label}: delay from running to event",
            delay,
            f"<= poll interval ({scale.poll_interval:.0f} s) + 1 s",
            scale.delay_p95_s <= scale.poll_interval + 1,
        ),
        Row(
            f"{label}: success events",
            f"{scale.events_success:,}",
            f"{scale.waits:,}",
            scale.events_success == scale.waits,
        ),
    ]


def overhead_rows(overhead: ClientOverhead) -> list[Row]:
    figure = (
        f"{overhead.ratio:.3f} ({overhead.client_median_ms:.3f} ms vs {overhead.bare_median_ms:.3f} ms, "
        f"{overhead.calls:,} calls each)"
    )
    return [Row("Client overhead: SaturnClient / bare requests", figure, "<= 1.2", overhead.ratio <= 1.2)]


ROUTE_NAMES = {STATUS_ROUTE: "status", HISTORY_ROUTE: "history", LOGS_ROUTE: "log pages"}


def job_wait_rows(waits: list[JobWaitRequests]) -> list[Row]:
    """Requests per poll interval of a job run's wait, log not followed and followed; the lines delivered."""
    rows = []
    for wait in waits:
        label = f"Job run wait, log {'followed' if wait.follow_logs else 'not followed'}"
        routes = ", ".join(f"{count} {ROUTE_NAMES.get(route, route)}" for route, count in wait.by_route.items())
        pods = f"; {wait.pods} pod" + ("s" if wait.pods != 1 else "") if wait.follow_logs else ""
        figure = (
            f"{wait.requests_per_interval:.2f} ({wait.requests} in {wait.intervals} intervals of "
            f"{wait.poll_interval:g} s: {routes}{pods})"
        )
        goal = "<= 2 + 2 per pod (status, history; per pod the new lines' page and the one after)"
        if not wait.follow_logs:
            goal = "<= 1 (status)"
        rows.append(Row(f"{label}: requests per poll interval", figure, goal, wait.requests_per_interval <= wait.goal))
    for wait in waits:
        if wait.follow_logs:
            order = "in order, each once" if wait.lines_exact else "NOT all in order once"
            rows.append(
                Row(
                    "Job run wait, log followed: lines delivered to the task log",
                    f"{wait.lines_delivered} of {wait.lines_expected}, {order}",
                    "all, in order, each once",
                    wait.lines_exact and wait.lines_delivered == wait.lines_expected,
                )
            )
    events = [wait.event_status for wait in waits]
    rows.append(Row("Job run waits: events", ", ".join(events), "success", set(events) == {"success"}))
    return rows


def as_text(rows: list[Row]) -> str:
    width = max(len(row.measure) for row in rows)
    lines = []
    for row in rows:
        goal = f"  [goal {row.goal}: {row.verdict}]" if row.goal else ""
        lines.append(f"{row.measure:<{width}}  {row.figure}{goal}")
    return "\n".join(lines)


def as_markdown(rows: list[Row], *, when: str, seconds: float, machine: str) -> str:
    missed = [row.measure for row in rows if row.met is False]
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"Run {when} with `python dev.py bench` in {seconds:.0f} s, on: {machine}.",
            "Absolute times are for that machine; ratios and counts come from the same run.",
            "",
            "| measure | figure | goal | |",
            "|---|---|---|---|",
            *[f"| {row.measure} | {row.figure} | {row.goal} | {row.verdict} |" for row in rows],
            "",
            "How each is measured: `benchmarks/import_cost.py` (fresh processes, on top of an imported",
            "`airflow.sdk`), `benchmarks/wait_scale.py` (triggers in one event loop in a fresh process, the emulator",
            "in another; requests and connections counted by the emulator; RSS from /proc),",
            "`benchmarks/client_overhead.py` (the two calls alternated, medians), `benchmarks/job_wait_requests.py`",
            "(one job-run trigger in a fresh process, log followed and not, the emulator in another; the run writes",
            "3 bursts of 100 lines 5 s apart; requests counted by route by the emulator; lines recorded from the",
            "trigger's logger).",
            "",
            f"Goals missed: {', '.join(missed) if missed else 'none'}.",
            "",
        ]
    )
