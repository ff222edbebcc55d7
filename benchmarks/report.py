"""Turning benchmark results into rows: measure, figure, goal, and whether the goal was met."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.client_overhead import ClientOverhead
from benchmarks.idle_scan import IdleScan
from benchmarks.import_cost import ImportCost
from benchmarks.job_wait_requests import HISTORY_ROUTE, LOGS_ROUTE, STATUS_ROUTE, JobWaitRequests
from benchmarks.shared_poll import PollCase, SharedPollResults

OURS = "airflow-provider-saturn (operators + sensors)"
NOTES = [
    "**Deferred waits** (`benchmarks/shared_poll.py`). Three ways of waiting, each in a fresh process (one event",
    "loop, as a triggerer runs its triggers), against a server in another process, all over TLS on 127.0.0.1",
    "(the dbt Cloud hook only builds https URLs; the same self-signed ECDSA P-256 certificate for all):",
    "*shared poll* is `SaturnStatusTrigger` as it is (the waits share one poller per connection and interval);",
    "*per-wait polling* is the trigger's previous behaviour (before the shared poller): each wait reads its own",
    "resource every interval with `client.get_resource` through `shared_async_client`, same decision and",
    "deadline (`PerWaitStatusTrigger` in the benchmark, the old loop); *dbt Cloud trigger* is",
    "`DbtCloudRunJobTrigger` of apache-airflow-providers-dbt-cloud against `benchmarks/fake_dbt_cloud.py`, which",
    "answers `GET /api/v2/accounts/{account}/runs/{id}/` and counts requests (the trigger opens a new aiohttp",
    "session, so a new TLS connection, at every poll). Poll interval 3 s for every case. The waits are mixed:",
    "1, 2, 3, 4, 1, ... waits per resource (N waits on about N/2.5 resources); Saturn resources are 4 in 10",
    "Jupyter servers, 3 in 10 Dask clusters and 3 in 10 job runs (runs of jobs of up to 60 runs, command",
    "`sleep 2`: a job's runs are read in one request). Each resource changes status (to running, a run to",
    "completed) at a planned moment spread over the 2nd and 3rd interval (emulator `transition_seconds` with",
    "backdated starts; runs backdated so their sleep ends then); dbt runs turn from running (3) to success (10)",
    "the same way. The measured process first runs one wait to its end (imports, connection, client: a",
    "triggerer already serving), then gets the waits. Requests are counted by the server; *requests per",
    "interval* divides them by the polls a wait could make in the time (wall // interval + 1). *CPU per",
    "interval, all in* is the process's CPU time (getrusage, all threads) from making the triggers to the last",
    "event, over wall / interval; *once all poll* is the CPU after every wait has asked for its first read, over",
    "the intervals after that, and *start-up* the CPU before it, per wait (mostly Airflow's connection lookup",
    "of each trigger). A case marked *fell behind* had its process busy (over 80% of a core) or answered late",
    "(p95 delay over interval + 1 s): it could not poll every wait each interval, so its CPU per interval is",
    "a floor of what polling them all would take. (The dbt trigger looks its connection up inside its first",
    "poll, so for it that lookup counts after the split.) *Added RSS* is VmHWM (reset before the waits) minus",
    "the RSS then; at 1 and 100 waits the shared poll fits in memory the process already had (freed after the",
    "warm-up), hence about 0, while per-wait polling's 100 concurrent reads open the pool's 64 TLS connections.",
    "*Delay* runs from the planned change to the event. `BENCH_PROFILE=/tmp/p python -m benchmarks.shared_poll",
    "5000 --no-dbt` writes a cProfile of each measured process.",
    "",
    "**Idle scan** (`benchmarks/idle_scan.py`). 1,000 active resources seeded in the emulator (over TLS, another",
    "process), started 3, 5 or 8 hours ago: 400 workspaces, 250 Dask clusters (scheduler and 2 workers), 200",
    "deployments, 150 jobs with a run; scripted metrics: one in 7 busy (a CPU spike in the window), one in 31",
    "without metrics, the rest idle. A fresh process runs `SaturnStopIdleResourcesOperator(idle_for=2 h, kinds=",
    "all four, dry_run=True).execute()` once with a minimal context, `saturn_default` from",
    "`AIRFLOW_CONN_SATURN_DEFAULT`; its HTTP stack is imported inside `execute`, as in a task. Requests by route",
    "from the emulator; wall and CPU time of `execute`; VmHWM of the process.",
    "",
]
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


def idle_rows(scan: IdleScan) -> list[Row]:
    """One scan of the idle operator over ``scan.resources`` active resources: requests, time, memory, verdicts."""
    label = f"Idle scan, {scan.resources:,} resources"
    others = sum(scan.other_requests.values())
    requests = (
        f"{scan.list_requests} list + {scan.metrics_requests:,} metrics"
        + (f" + {others} other ({', '.join(scan.other_requests)})" if others else "")
        + f" ({scan.candidates:,} candidates)"
    )
    requests_met = (
        scan.list_requests <= scan.list_requests_allowed and scan.metrics_requests <= scan.candidates and not others
    )
    actions = ", ".join(f"{count:,} {action}" for action, count in sorted(scan.actions.items()))
    return [
        Row(
            f"{label}: requests",
            requests,
            f"<= {scan.list_requests_allowed} list (1 + ceil(N/1000)) + 1 metrics per candidate",
            requests_met,
        ),
        Row(
            f"{label}: wall time of execute",
            f"{scan.wall_seconds:.1f} s (CPU {scan.cpu_seconds:.1f} s)",
            "< 10 s",
            scan.wall_seconds < 10,
        ),
        Row(
            f"{label}: peak RSS of the measuring process",
            f"{scan.peak_rss_mb:.0f} MB ({scan.added_peak_rss_mb:.1f} MB added by the scan)",
        ),
        Row(
            f"{label}: verdicts (dry run)",
            f"{actions} (scripted: {scan.expected_idle:,} idle)",
            "the scripted idle ones, and only they",
            scan.actions.get("would stop", 0) == scan.expected_idle and scan.candidates == scan.resources,
        ),
    ]


def _by_route(case: PollCase) -> str:
    names = {
        "GET /api/active/resources": "list pages",
        "GET /api/jobs/{id}/runtimesummary": "job runs reads",
        "GET /api/workspaces/{id}": "workspace reads",
        "GET /api/dask_clusters/{id}": "Dask cluster reads",
    }
    return ", ".join(f"{count:,} {names.get(route, route)}" for route, count in case.by_route.items())


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def poll_table(results: SharedPollResults) -> tuple[list[str], list[list[str]]]:
    """Every case's figures, as a header and rows (for RESULTS.md and the printed table)."""
    header = [
        "case",
        "waits (resources)",
        "requests per interval",
        "CPU per interval, all in",
        "CPU per interval once all poll",
        "start-up CPU per wait",
        "added RSS per wait",
        "delay median / p95",
        "TCP connections",
        "events",
    ]
    rows = []
    for case in results.cases:
        saturated = " (fell behind)" if _behind(case, results.interval) else ""
        rows.append(
            [
                case.name,
                f"{case.waits:,} ({case.resources:,})",
                f"{case.requests_per_interval:,.2f} ({case.requests:,} in {case.intervals}: {_by_route(case)})",
                f"{_ms(case.cpu_ms_per_interval)} ({100 * case.cpu_share:.0f}% of a core){saturated}",
                _ms(case.polling_cpu_ms_per_interval),
                "n/a" if case.start_up_ms_per_wait is None else f"{case.start_up_ms_per_wait:.2f} ms",
                f"{case.kib_per_wait:.1f} KiB ({case.added_peak_rss_kib / 1024:.1f} MB)",
                f"{case.delay_median_s:.1f} s / {case.delay_p95_s:.1f} s",
                f"{case.connections:,}",
                ", ".join(f"{count:,} {status}" for status, count in sorted(case.events.items()))
                + "".join(f"; {note}" for note in case.notes),
            ]
        )
    return header, rows


def _behind(case: PollCase, interval: float) -> bool:
    """Whether a case could not keep up: its process over 80% of a core, or its events late."""
    return case.cpu_share > 0.8 or case.delay_p95_s > interval + 1


def _ratio(ours: float | None, theirs: float | None) -> float:
    return (theirs or 0.0) / ours if ours else float("inf")


def poll_rows(results: SharedPollResults) -> list[Row]:
    """The goals of the shared poll, against per-wait polling and the dbt Cloud trigger of the same run."""
    interval = results.interval
    rows = []
    shared = {case.waits: case for case in results.cases if case.mode == "shared"}
    per_wait = {case.waits: case for case in results.cases if case.mode == "per_wait"}
    dbt = next((case for case in results.cases if case.mode == "dbt"), None)
    big = shared.get(5000)
    if big is not None:
        rows.append(
            Row(
                "Shared poll, N=5,000: requests per poll interval",
                f"{big.requests_per_interval:.1f} ({_by_route(big)}; {big.jobs} jobs)",
                "<= 20",
                big.requests_per_interval <= 20,
            )
        )
        other = per_wait.get(5000)
        if other is not None:
            ratio = _ratio(big.cpu_ms_per_interval, other.cpu_ms_per_interval)
            saturated = (
                f"; per-wait polling fell behind ({100 * other.cpu_share:.0f}% of a core, p95 delay "
                f"{other.delay_p95_s:.1f} s), so its figure is a floor"
                if _behind(other, interval)
                else ""
            )
            rows.append(
                Row(
                    "Shared poll vs per-wait polling, N=5,000: CPU per poll interval (all in)",
                    f"{_ms(big.cpu_ms_per_interval)} vs {_ms(other.cpu_ms_per_interval)}: {ratio:.1f}x less{saturated}",
                    ">= 10x less",
                    ratio >= 10,
                )
            )
            steady = _ratio(big.polling_cpu_ms_per_interval, other.polling_cpu_ms_per_interval)
            rows.append(
                Row(
                    "Shared poll vs per-wait polling, N=5,000: CPU per poll interval once every wait polls",
                    f"{_ms(big.polling_cpu_ms_per_interval)} vs {_ms(other.polling_cpu_ms_per_interval)}: "
                    f"{steady:.1f}x less (start-up: {big.start_up_ms_per_wait or 0:.2f} vs "
                    f"{other.start_up_ms_per_wait or 0:.2f} ms per wait)",
                )
            )
    mid = shared.get(1000)
    if mid is not None and dbt is not None and dbt.waits == 1000:
        cpu = _ratio(mid.cpu_ms_per_interval, dbt.cpu_ms_per_interval)
        rows.append(
            Row(
                "Shared poll vs dbt Cloud trigger, N=1,000: CPU per poll interval",
                f"{_ms(mid.cpu_ms_per_interval)} vs {_ms(dbt.cpu_ms_per_interval)} ({cpu:.1f}x less)",
                "< half of dbt Cloud's",
                mid.cpu_ms_per_interval < dbt.cpu_ms_per_interval / 2,
            )
        )
        memory = _ratio(mid.kib_per_wait, dbt.kib_per_wait)
        rows.append(
            Row(
                "Shared poll vs dbt Cloud trigger, N=1,000: added RSS per wait",
                f"{mid.kib_per_wait:.1f} vs {dbt.kib_per_wait:.1f} KiB ({memory:.0f}x less)",
                "< half of dbt Cloud's",
                mid.kib_per_wait < dbt.kib_per_wait / 2,
            )
        )
    for waits, case in sorted(shared.items()):
        rows.append(
            Row(
                f"Shared poll, N={waits:,}: added RSS per wait",
                f"{case.kib_per_wait:.1f} KiB ({case.added_peak_rss_kib / 1024:.1f} MB)",
                "<= 10 KiB",
                case.kib_per_wait <= 10,
            )
        )
    for waits, case in sorted(shared.items()):
        rows.append(
            Row(
                f"Shared poll, N={waits:,}: delay from status change to event",
                f"median {case.delay_median_s:.1f} s, p95 {case.delay_p95_s:.1f} s, max {case.delay_max_s:.1f} s",
                f"p95 <= interval ({interval:g} s) + 1 s",
                case.delay_p95_s <= interval + 1,
            )
        )
    one, one_before = shared.get(1), per_wait.get(1)
    if one is not None and one_before is not None:
        cpu_allowed = max(1.25 * one_before.cpu_ms_per_interval, one_before.cpu_ms_per_interval + 1)
        rows.append(
            Row(
                "Shared poll vs per-wait polling, N=1",
                f"requests {one.requests_per_interval:.2f} vs {one_before.requests_per_interval:.2f} per interval; "
                f"CPU {_ms(one.cpu_ms_per_interval)} vs {_ms(one_before.cpu_ms_per_interval)} per interval; "
                f"RSS {one.added_peak_rss_kib} vs {one_before.added_peak_rss_kib} KiB; "
                f"delay {one.delay_median_s:.1f} vs {one_before.delay_median_s:.1f} s",
                "no worse: requests <=, CPU within 25% or 1 ms (noise), RSS within 16 KiB, delay <= interval + 1 s",
                one.requests_per_interval <= one_before.requests_per_interval
                and one.cpu_ms_per_interval <= cpu_allowed
                and one.added_peak_rss_kib <= one_before.added_peak_rss_kib + 16
                and one.delay_p95_s <= interval + 1,
            )
        )
    failed = [
        f"{case.name} N={case.waits:,}: {case.events}" for case in results.cases if set(case.events) != {"success"}
    ]
    total = sum(case.waits for case in results.cases)
    rows.append(
        Row(
            "Waits: events, every case",
            f"{total:,} success in {len(results.cases)} cases" if not failed else "; ".join(failed),
            "all success",
            not failed,
        )
    )
    return rows


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


Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def as_text(rows: list[Row], tables: list[Table] | None = None) -> str:
    width = max(len(row.measure) for row in rows)
    lines = []
    for row in rows:
        goal = f"  [goal {row.goal}: {row.verdict}]" if row.goal else ""
        lines.append(f"{row.measure:<{width}}  {row.figure}{goal}")
    for title, header, table in tables or []:
        lines += ["", title]
        lines += [
            "  " + " | ".join(f"{name}: {cell}" for name, cell in zip(header, cells, strict=True)) for cells in table
        ]
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(cells) + " |" for cells in rows],
    ]


def as_markdown(
    rows: list[Row],
    *,
    when: str,
    seconds: float,
    machine: str,
    tables: list[Table] | None = None,
    notes: list[str] | None = None,
) -> str:
    missed = [row.measure for row in rows if row.met is False]
    sections: list[str] = []
    for title, header, table in tables or []:
        sections += [f"## {title}", "", *_markdown_table(header, table), ""]
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
            *sections,
            "How each is measured: `benchmarks/import_cost.py` (fresh processes, on top of an imported",
            "`airflow.sdk`), `benchmarks/shared_poll.py` (below), `benchmarks/idle_scan.py` (below),",
            "`benchmarks/client_overhead.py` (the two calls alternated, medians), `benchmarks/job_wait_requests.py`",
            "(one job-run trigger in a fresh process, log followed and not, the emulator in another; the run writes",
            "3 bursts of 100 lines 5 s apart; requests counted by route by the emulator; lines recorded from the",
            "trigger's logger).",
            "",
            f"Goals missed: {', '.join(missed) if missed else 'none'}.",
            "",
            *(notes or []),
            *_real_triggerer_section(),
        ]
    )


REAL_TRIGGERER = Path(__file__).resolve().parent / "E2E_TRIGGERER.md"


def _real_triggerer_section() -> list[str]:
    """The figures of the real triggerer (``python dev.py e2e --scale`` writes them), beside these."""
    if not REAL_TRIGGERER.is_file():
        return []
    return ["", *REAL_TRIGGERER.read_text().rstrip().splitlines()]
