"""Requests a deferred wait on a job run makes per poll interval, following its log and not.

A ``SaturnStatusTrigger`` (``resource_kind="job_run"``, target ``completed``) runs in one event loop in a fresh
process, against the emulator in another process, once with ``follow_logs=True`` and once with
``follow_logs=False``. The job's run writes its lines in bursts for a while (``seq 100; sleep 5; seq 100;
sleep 5; seq 100``). The emulator counts the requests by route; they are divided by the poll intervals the
wait lasted. The lines the trigger hands to the task log are recorded (its logger is replaced by a recorder)
and compared with what the run wrote: all of them, in order, none twice.

A followed wait costs, per poll: the run's status, the job's history (which pods the run has), and per pod
the page of new lines, plus one more page when lines arrived (the page after them, which says nothing more
was written yet). So the goal, per poll interval: at most 2 + 2 per pod.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.emulator_process import TOKEN, EmulatorProcess

BURSTS = 3
LINES_PER_BURST = 100
PAUSE_SECONDS = 5
COMMAND = f"seq {LINES_PER_BURST}; sleep {PAUSE_SECONDS}; " * (BURSTS - 1) + f"seq {LINES_PER_BURST}"
EXPECTED_LINES = [str(number) for number in range(1, LINES_PER_BURST + 1)] * BURSTS

STATUS_ROUTE = "GET /api/jobs/{id}/runtimesummary"
HISTORY_ROUTE = "GET /api/jobs/{id}/history"
LOGS_ROUTE = "GET /api/jobs/{id}/logs"


@dataclass
class JobWaitRequests:
    """One wait on one job run, with or without its log followed."""

    follow_logs: bool
    poll_interval: float
    wall_seconds: float
    intervals: int
    requests: int
    by_route: dict[str, int]
    requests_per_interval: float
    pods: int
    lines_expected: int
    lines_delivered: int
    lines_exact: bool  # every line the run wrote, in order, none twice
    event_status: str
    event_message: str
    warnings: list[str] = field(default_factory=list)

    def per_interval(self, route: str) -> float:
        return self.by_route.get(route, 0) / self.intervals

    @property
    def goal(self) -> float:
        """The most requests per poll interval this wait may make: 1 (status) unfollowed; followed, 2 (status and
        history) + 2 per pod (the page of new lines and the page after them)."""
        return 2 + 2 * max(self.pods, 1) if self.follow_logs else 1


class LineRecorder:
    """Stands in for the trigger's logger: keeps what would go to the task log."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, message: str, *args: Any, **_: Any) -> None:
        self.lines.append(message % args if args else message)

    def warning(self, message: str, *args: Any, **_: Any) -> None:
        self.warnings.append(message % args if args else message)

    error = warning

    def debug(self, message: str, *args: Any, **_: Any) -> None:
        pass


def _control(url: str, path: str, method: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url + path, method=method), timeout=30) as response:
        response.read()


def child(url: str, follow_logs: bool, poll_interval: float, timeout: float) -> dict[str, Any]:
    """Runs in the measured process: start the run, clear the counts, wait on it with the trigger, report."""
    os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps({"conn_type": "saturn", "host": url, "password": TOKEN})
    import airflow_provider_saturn.client.async_client
    import airflow_provider_saturn.client.async_jobs  # noqa: F401 - imports are not what is measured
    from airflow_provider_saturn.client import SaturnClient
    from airflow_provider_saturn.client.job_runs import job_run_key
    from airflow_provider_saturn.triggers import SaturnStatusTrigger

    with SaturnClient(url=url, api_token=TOKEN) as client:
        job = client.create_job(f"bench-{'logs' if follow_logs else 'nologs'}", COMMAND)
        run = client.start_job(job["id"])
    _control(url, "/_emulator/stats", "DELETE")  # only the wait's own requests are counted
    trigger = SaturnStatusTrigger(
        resource_kind="job_run",
        resource_id=job_run_key(job["id"], run["run_name"]),
        target_status="completed",
        deadline=time.time() + timeout,
        poll_interval=poll_interval,
        follow_logs=follow_logs,
    )
    recorder = LineRecorder()
    trigger._log = recorder  # type: ignore[assignment]  # the task log, recorded: what reached it is checked

    async def wait() -> dict[str, Any]:
        generator: Any = trigger.run()
        event = await generator.__anext__()
        await generator.aclose()
        return dict(event.payload)

    started = time.monotonic()
    event = asyncio.run(wait())
    wall = time.monotonic() - started
    return {"event": event, "lines": recorder.lines, "warnings": recorder.warnings, "wall": wall}


def run_one(follow_logs: bool, poll_interval: float = 1.0, transition: float = 1.0) -> JobWaitRequests:
    timeout = transition + (BURSTS - 1) * PAUSE_SECONDS + 60
    with EmulatorProcess(transition_seconds=transition) as emulator:
        spec = {"url": emulator.url, "follow_logs": follow_logs, "poll_interval": poll_interval, "timeout": timeout}
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.job_wait_requests", "--child"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout + 120,
        ).stdout
        measured = json.loads(output.strip().splitlines()[-1])
        stats = emulator.control("/_emulator/stats", method="GET")
    by_route = dict(stats["by_route"])  # the emulator counts its API requests only, not its test controls
    requests = sum(by_route.values())
    intervals = int(measured["wall"] // poll_interval) + 1  # polls a wait may make in the time it ran
    # Each recorded line is "[<pod>] <content>".
    pods = {line.partition("] ")[0] for line in measured["lines"]}
    contents = [line.partition("] ")[2] for line in measured["lines"]]
    expected = EXPECTED_LINES if follow_logs else []
    event = measured["event"]
    return JobWaitRequests(
        follow_logs=follow_logs,
        poll_interval=poll_interval,
        wall_seconds=measured["wall"],
        intervals=intervals,
        requests=requests,
        by_route=by_route,
        requests_per_interval=requests / intervals,
        pods=len(pods),
        lines_expected=len(expected),
        lines_delivered=len(contents),
        lines_exact=contents == expected,
        event_status=event["status"],
        event_message=event["message"],
        warnings=measured["warnings"],
    )


def run(poll_interval: float = 1.0, transition: float = 1.0) -> list[JobWaitRequests]:
    """The same wait without and with the log followed."""
    return [run_one(follow_logs, poll_interval, transition) for follow_logs in (False, True)]


if __name__ == "__main__":
    if "--child" in sys.argv:
        spec = json.loads(sys.stdin.read())
        print(json.dumps(child(spec["url"], spec["follow_logs"], spec["poll_interval"], spec["timeout"])))
    else:
        for result in run():
            print(json.dumps(asdict(result)))
