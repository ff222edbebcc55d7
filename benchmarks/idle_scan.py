"""Idle scan at scale: one run of ``SaturnStopIdleResourcesOperator`` over 1,000 active resources.

The emulator (another process, over TLS as Saturn is) is seeded with 1,000 active resources of every kind the
operator stops, started hours ago: 400 workspaces, 250 Dask clusters (a scheduler and 2 workers each), 200
deployments and 150 jobs (a run each). Their metrics are scripted: most idle, some busy (a CPU spike in the
window), a few without metrics. A fresh process runs the operator's ``execute`` once, with a minimal context (as
``tests/harness.py`` does), ``kinds`` covering all four and ``dry_run=True``, ``saturn_default`` pointing at the
emulator through ``AIRFLOW_CONN_SATURN_DEFAULT``. The HTTP stack is imported on first use, inside ``execute``,
as in a task.

Measured: requests by route (list vs metrics; counted by the emulator), wall and CPU time of ``execute``, and the
measuring process's peak RSS (VmHWM), in all and added by the scan.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.emulator_process import TOKEN, EmulatorProcess
from benchmarks.tls import TlsFiles, make_certificate

HOUR = 3600
# (seed kind, operator kind, count, extra seed fields)
MIX: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    ("workspace", "workspace", 400, {}),
    ("dask_cluster", "dask_cluster", 250, {"n_workers": 2}),
    ("deployment", "deployment", 200, {}),
    ("job", "job", 150, {}),
)
STARTED_AGO = (3 * HOUR, 5 * HOUR, 8 * HOUR)  # each kind's resources in three groups
IDLE_FOR_HOURS = 2
BUSY_EVERY = 7  # one resource in 7 has a CPU spike in the window: kept
MISSING_EVERY = 31  # one in 31 has no metrics at all: kept ("no metrics")
LIST_ROUTE = "GET /api/active/resources"
METRICS_SUFFIX = "/metrics"
PAGE = 1000  # /api/active/resources page size


@dataclass
class IdleScan:
    resources: int
    candidates: int
    actions: dict[str, int]
    list_requests: int
    metrics_requests: int
    other_requests: dict[str, int]
    list_requests_allowed: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    added_peak_rss_mb: float
    expected_idle: int


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def child(url: str, cert: str) -> dict[str, Any]:
    """The measured process: one ``execute`` of the idle operator, dry run, over every kind."""
    os.environ["SSL_CERT_FILE"] = cert
    os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps({"conn_type": "saturn", "host": url, "password": TOKEN})
    import ssl
    import urllib.request
    from datetime import timedelta

    from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator

    operator = SaturnStopIdleResourcesOperator(
        task_id="stop_idle",
        idle_for=timedelta(hours=IDLE_FOR_HOURS),
        kinds=["workspace", "dask_cluster", "deployment", "job"],
        dry_run=True,
    )
    ti = RecordingTI()
    context = {"ti": ti, "task_instance": ti}
    control = urllib.request.Request(url + "/_emulator/stats", method="DELETE")
    trusting = ssl.create_default_context(cafile=cert)
    with urllib.request.urlopen(control, timeout=30, context=trusting) as answer:  # count the scan's requests only
        answer.read()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # VmHWM from here
    except OSError:
        pass
    baseline_kib = _status_kib("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    report = operator.execute(context)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = _status_kib("VmHWM")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime - cpu_before,
        "peak_kib": peak_kib,
        "added_peak_kib": peak_kib - baseline_kib,
        "rows": len(report),
        "actions": dict(Counter(row["action"] for row in report)),
    }


class RecordingTI:
    """Just enough of a task instance: ``xcom_push`` recorded (as ``tests/harness.py`` does)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def seed(emulator: EmulatorProcess) -> tuple[int, int]:
    """The 1,000 resources and their metrics; returns how many there are and how many should be found idle."""
    groups = []
    for seed_kind, _, count, extra in MIX:
        for index, ago in enumerate(STARTED_AGO):
            share = count // len(STARTED_AGO) + (1 if index < count % len(STARTED_AGO) else 0)
            groups.append({"kind": seed_kind, "count": share, "started_ago_seconds": ago, **extra})
    answer = emulator.control("/_emulator/seed", {"groups": groups})
    total = idle = 0
    for group, seeded in zip(groups, answer["groups"], strict=True):
        for resource_id in seeded["ids"]:
            total += 1
            script: dict[str, Any] | None = None
            if total % MISSING_EVERY == 0:
                script = {"missing": True}
            elif total % BUSY_EVERY == 0:
                script = {"series": {"cpu": [5, 5, 900, 5]}}  # millicores per pod: a spike mid-window
            else:
                idle += 1
                if group["kind"] == "dask_cluster":  # 3 pods at the default 50 would sum to 0.15 cores: busy
                    script = {"series": {"cpu": 10}}
            # (others keep the default: 50 millicores on their one pod, below 0.1 cores: idle)
            if script is not None:
                emulator.control("/_emulator/metrics", {"kind": group["kind"], "id": resource_id, **script})
    return total, idle


def run(tls: TlsFiles | None = None) -> IdleScan:
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as directory:
        tls = tls or make_certificate(Path(directory))
        with EmulatorProcess(transition_seconds=1.0, tls=tls) as emulator:
            resources, expected_idle = seed(emulator)
            output = subprocess.run(
                [sys.executable, "-m", "benchmarks.idle_scan", "--child", emulator.url, str(tls.cert)],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if output.returncode != 0:
                raise RuntimeError(f"The idle scan failed:\n{output.stderr[-4000:]}")
            result = next(line for line in reversed(output.stdout.splitlines()) if line.startswith("BENCH-RESULT "))
            measured = json.loads(result.removeprefix("BENCH-RESULT "))
            stats = emulator.control("/_emulator/stats", method="GET")
    by_route = {route: count for route, count in stats["by_route"].items() if count}
    listing = by_route.pop(LIST_ROUTE, 0)
    metrics = sum(count for route, count in by_route.items() if route.endswith(METRICS_SUFFIX))
    others = {route: count for route, count in by_route.items() if not route.endswith(METRICS_SUFFIX)}
    return IdleScan(
        resources=resources,
        candidates=measured["rows"],
        actions=measured["actions"],
        list_requests=listing,
        metrics_requests=metrics,
        other_requests=others,
        list_requests_allowed=1 + math.ceil(resources / PAGE),
        wall_seconds=measured["wall"],
        cpu_seconds=measured["cpu"],
        peak_rss_mb=measured["peak_kib"] / 1024,
        added_peak_rss_mb=measured["added_peak_kib"] / 1024,
        expected_idle=expected_idle,
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        url, cert = sys.argv[sys.argv.index("--child") + 1 :][:2]
        print("BENCH-RESULT " + json.dumps(child(url, cert)), flush=True)
    else:
        print(json.dumps(asdict(run())))
