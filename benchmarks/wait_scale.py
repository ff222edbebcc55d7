"""Deferred-wait scale: N ``SaturnStatusTrigger`` waits at once in one event loop, as the triggerer runs them.

Each N runs in a fresh process against an emulator in another process. Workspaces are started together
and turn ``running`` after ``transition`` seconds. Measured: added peak RSS per wait, CPU seconds per poll,
HTTP requests and TCP connections (counted by the emulator), and the delay from turning running to the
event.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.emulator_process import TOKEN, EmulatorProcess


@dataclass
class WaitScale:
    waits: int
    poll_interval: float
    transition: float
    added_peak_rss_mb: float
    kib_per_wait: float
    cpu_seconds: float
    cpu_ms_per_poll: float
    requests: int
    max_requests_allowed: int
    requests_per_wait_per_interval: float
    connections: int
    delay_median_s: float
    delay_p95_s: float
    events_success: int
    wall_seconds: float


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def _wait_all(ids: list[str], poll_interval: float, deadline: float) -> list[tuple[float, str]]:
    from airflow_provider_saturn.triggers import SaturnStatusTrigger

    async def one(resource_id: str) -> tuple[float, str]:
        trigger = SaturnStatusTrigger(
            resource_kind="jupyter_server",
            resource_id=resource_id,
            target_status="running",
            deadline=deadline,
            poll_interval=poll_interval,
        )
        generator: Any = trigger.run()
        event = await generator.__anext__()
        await generator.aclose()
        return time.time(), event.payload["status"]

    return await asyncio.gather(*(one(resource_id) for resource_id in ids))


def child(url: str, ids: list[str], poll_interval: float, running_at: float, deadline: float) -> dict:
    """Runs in the measured process: warm up, take the baseline, run every wait, report."""
    os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps({"conn_type": "saturn", "host": url, "password": TOKEN})
    import httpx  # noqa: F401 - imports are not what is measured

    import airflow_provider_saturn.client.async_client
    import airflow_provider_saturn.hooks.saturn
    import airflow_provider_saturn.triggers  # noqa: F401
    from airflow_provider_saturn.hooks.saturn import async_connection_settings

    asyncio.run(async_connection_settings("saturn_default"))  # a running triggerer has done this lookup before
    baseline_kib = _rss_kib("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    results = asyncio.run(_wait_all(ids, poll_interval, deadline))
    wall = time.time() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    delays = sorted(max(at - running_at, 0.0) for at, _ in results)
    return {
        "added_peak_kib": _rss_kib("VmHWM") - baseline_kib,
        "cpu_seconds": cpu,
        "delays": delays,
        "successes": sum(status == "success" for _, status in results),
        "started": started,
        "wall": wall,
    }


def run_one(waits: int, poll_interval: float, transition: float) -> WaitScale:
    with EmulatorProcess(transition_seconds=transition) as emulator:
        emulator.control("/_emulator/stats", method="DELETE")
        ids = emulator.control("/_emulator/seed", {"count": waits, "start": True, "prefix": "wait"})["ids"]
        running_at = time.time() + transition
        emulator.control("/_emulator/stats", method="DELETE")
        spec = {"url": emulator.url, "ids": ids, "poll_interval": poll_interval, "running_at": running_at}
        spec["deadline"] = time.time() + transition + 20 * poll_interval
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.wait_scale", "--child"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        measured = json.loads(output.strip().splitlines()[-1])
        stats = emulator.control("/_emulator/stats", method="GET")
    requests = stats["by_route"].get("GET /api/workspaces/{id}", 0)
    intervals = int(measured["wall"] // poll_interval) + 1  # polls a wait may make in the time it ran
    allowed = waits * intervals
    delays = measured["delays"]
    return WaitScale(
        waits=waits,
        poll_interval=poll_interval,
        transition=transition,
        added_peak_rss_mb=measured["added_peak_kib"] / 1024,
        kib_per_wait=measured["added_peak_kib"] / waits,
        cpu_seconds=measured["cpu_seconds"],
        cpu_ms_per_poll=1000 * measured["cpu_seconds"] / max(requests, 1),
        requests=requests,
        max_requests_allowed=allowed,
        requests_per_wait_per_interval=requests / allowed,
        connections=stats["connections"],
        delay_median_s=statistics.median(delays),
        delay_p95_s=delays[int(0.95 * (len(delays) - 1))],
        events_success=measured["successes"],
        wall_seconds=measured["wall"],
    )


def run(
    sizes: tuple[int, ...] = (100, 1000, 5000), poll_interval: float = 10.0, transition: float = 15.0
) -> list[WaitScale]:
    return [run_one(waits, poll_interval, transition) for waits in sizes]


if __name__ == "__main__":
    if "--child" in sys.argv:
        spec = json.loads(sys.stdin.read())
        print(json.dumps(child(spec["url"], spec["ids"], spec["poll_interval"], spec["running_at"], spec["deadline"])))
    else:
        sizes = tuple(int(arg) for arg in sys.argv[1:]) or (100, 1000, 5000)
        for result in run(sizes):
            print(json.dumps(asdict(result)))
