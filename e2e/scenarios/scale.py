"""The 500-sensor measurement (``--scale``): 500 deferred ``SaturnJupyterServerSensor`` waits in one real triggerer.

DAG ``e2e_scale``: a mapped sensor over 500 workspaces that stay starting (``pending`` for two hours, so the
waits never end, as waits for slow starts), poke interval 10 s (Saturn's asked-for rate). Every sensor runs
once on a Celery worker, finds its workspace pending and defers. Once all 500 triggers run in the triggerer,
the harness measures the triggerer's process tree (the triggerer and its trigger runner) over six poll
intervals: resident memory before (no triggers) and during, CPU seconds per poll interval, and the Saturn
requests per interval the emulator counted. Then it marks the run failed, and the triggers go. The waits share
one poller in the triggerer: one read of Saturn's active resources a poll interval answers all 500.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from e2e.deployment import Deployment
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import run_id
from e2e.waiting import wait_for

KEY = "scale"
TITLE = "500 deferred sensors in one triggerer"
DAG = "e2e_scale"
SENSORS = 500
POKE_INTERVAL = 10.0
INTERVALS = 6
READ = "GET /api/workspaces/{id}"
LIST = "GET /api/active/resources"
STARTING_FOR = 7200.0  # seconds the seeded workspaces stay pending
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pids: set[int]) -> float:
    """Resident memory of the processes, MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the processes have used."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


FIGURES = Path(__file__).resolve().parents[2] / "benchmarks" / "E2E_TRIGGERER.md"


def write_figures(
    *,
    idle_rss: float,
    added_rss: float,
    idle_cpu: float,
    cpu: float,
    requests: float,
    lists: float,
    reads: float,
    deferred_in: float,
) -> None:
    """The figures, for ``benchmarks/RESULTS.md`` (which includes this file) beside the in-process ones."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = [
        ("triggerer RSS, no triggers", f"{idle_rss:.0f} MiB (triggerer and its trigger runner)"),
        (
            f"triggerer RSS added by {SENSORS} waits",
            f"{added_rss:.0f} MiB ({added_rss * 1024 / SENSORS:.0f} KiB per wait)",
        ),
        (
            f"triggerer CPU per {POKE_INTERVAL:.0f} s poll interval",
            f"{cpu:.2f} s with {SENSORS} waits, {idle_cpu:.2f} s with none",
        ),
        (
            "Saturn requests per poll interval",
            f"{requests:.1f} ({lists:.1f} reads of the active resources, {reads:.1f} reads of one workspace; "
            f"per-wait polling: {SENSORS})",
        ),
        (f"time for {SENSORS} sensors to run once on 2 Celery workers and defer", f"{deferred_in:.0f} s"),
    ]
    lines = [
        "## On a real triggerer (`python dev.py e2e --scale`)",
        "",
        f"Measured {when}: {SENSORS} deferred `SaturnJupyterServerSensor` waits (workspaces that stay `pending`,",
        "so the waits go on) in the one triggerer of a real Airflow 3.3 deployment (Postgres, Redis, Celery),",
        "over six poll intervals.",
        "",
        "| measure | figure |",
        "|---|---|",
        *[f"| {measure} | {figure} |" for measure, figure in rows],
    ]
    FIGURES.write_text("\n".join(lines) + "\n")


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn, db = deployment.api, deployment.emulator, deployment.db
    triggerer = deployment.components["triggerer"]
    saturn.reset(transition_seconds=STARTING_FOR)
    ids = saturn.seed(SENSORS, "e2e-scale", start=True)
    pids = triggerer.tree()
    idle_rss = rss_mib(pids)
    idle_cpu = cpu_seconds(pids)
    time.sleep(POKE_INTERVAL)
    idle_cpu = cpu_seconds(pids) - idle_cpu
    evidence.note(
        f"triggerer before (no triggers): RSS {idle_rss:.0f} MiB over {len(pids)} processes, "
        f"{idle_cpu:.2f} CPU s per {POKE_INTERVAL:.0f}s"
    )

    began = time.monotonic()
    run = api.trigger(DAG, run_id("scale"), conf={"ids": ids})
    wait_for(
        lambda: db.count_triggers() == (SENSORS, SENSORS),
        timeout=900,
        interval=2,
        what=f"{SENSORS} sensors to defer and their triggers to be assigned",
        describe=lambda: f"(triggers, assigned) = {db.count_triggers()}",
    )
    deferred_in = time.monotonic() - began
    jobs = {row.triggerer_id for row in db.triggers(DAG, run)}
    evidence.check(
        len(jobs) == 1, f"all {SENSORS} sensors deferred in {deferred_in:.0f}s; one triggerer job runs them: {jobs}"
    )
    time.sleep(POKE_INTERVAL)  # every trigger past its first poll

    pids = triggerer.tree()
    cpu_start, stats_start, started = cpu_seconds(pids), saturn.stats(), time.monotonic()
    samples: list[float] = []
    while time.monotonic() - started < INTERVALS * POKE_INTERVAL:
        samples.append(rss_mib(triggerer.tree()))
        time.sleep(1)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(triggerer.tree() | pids) - cpu_start
    stats_end = saturn.stats()
    intervals = elapsed / POKE_INTERVAL
    reads = (count(stats_end, READ) - count(stats_start, READ)) / intervals
    lists = (count(stats_end, LIST) - count(stats_start, LIST)) / intervals
    requests = (stats_end["requests"] - stats_start["requests"]) / intervals
    write_figures(
        idle_rss=idle_rss,
        added_rss=max(samples) - idle_rss,
        idle_cpu=idle_cpu,
        cpu=cpu / intervals,
        requests=requests,
        lists=lists,
        reads=reads,
        deferred_in=deferred_in,
    )
    evidence.note(
        f"triggerer during ({SENSORS} waits): RSS {min(samples):.0f}-{max(samples):.0f} MiB "
        f"(+{max(samples) - idle_rss:.0f} MiB over idle); {cpu / intervals:.2f} CPU s per {POKE_INTERVAL:.0f}s poll "
        f"interval (measured over {elapsed:.0f}s)"
    )
    evidence.check(
        requests <= 3,
        f"Saturn requests per poll interval: {requests:.1f} for {SENSORS} waits ({lists:.1f} reads of the active "
        f"resources, {reads:.1f} reads of one workspace; per-wait polling would be {SENSORS})",
    )

    api.set_run_state(DAG, run, "failed")
    wait_for(
        lambda: db.count_triggers()[0] == 0,
        timeout=180,
        interval=2,
        what="the triggers to be cleaned up after the run was marked failed",
        describe=lambda: f"(triggers, assigned) = {db.count_triggers()}",
    )
    evidence.note(
        f"run marked failed; the {SENSORS} triggers are gone; triggerer RSS now {rss_mib(triggerer.tree()):.0f} MiB"
    )
