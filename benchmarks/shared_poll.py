"""Shared poll vs per-wait polling vs the dbt Cloud provider's trigger: many deferred waits in one event loop.

Three ways of waiting, each in a fresh process (the triggerer), one event loop, against a server in another
process; all over TLS on 127.0.0.1 (the dbt Cloud hook only speaks https; see :mod:`benchmarks.tls`):

- **shared poll** (ours): ``SaturnStatusTrigger`` waits; the waits share one poller per client and interval
  (:mod:`airflow_provider_saturn.client.poller`);
- **per-wait polling** (the trigger before the poller, kept here as :class:`PerWaitStatusTrigger`): the same
  waits, each reading its own resource every interval (``client.get_resource`` through ``shared_async_client``,
  the same decision and deadline);
- **dbt Cloud**: the dbt Cloud provider's ``DbtCloudRunJobTrigger`` against :mod:`benchmarks.fake_dbt_cloud`.

The waits are mixed: many resources, several waits per resource (1, 2, 3, 4, 1, 2, ...); for Saturn, Jupyter
servers (4 in 10 resources), Dask clusters (3 in 10) and job runs (3 in 10, runs of jobs of up to
``RUNS_PER_JOB`` runs each, whose command is ``sleep 2``). Every resource changes status (to ``running``, or a
run to ``completed``) at a planned moment, spread over the 2nd and 3rd poll intervals of the wait: Jupyter
servers and Dask clusters are seeded pending with a start backdated so that the emulator's
``transition_seconds`` ends then; a job's runs are started, then backdated so that their ``sleep`` ends then.
The dbt runs turn from running to success at the same kind of moments.

Measured per case: requests per poll interval (counted by the server, by route, over ``wall // interval + 1``,
the polls a wait may make in the time the waits ran); CPU of the measured process per poll interval (over
``wall / interval``), all in, and split at the moment every wait has asked for its first read (start-up per
wait before it, polling per interval after it; see :class:`StartUp`); added peak RSS per wait (VmHWM reset
before the waits, over the RSS then); and the delay from the planned status change to the event (median, p95).

The parent sets things up while the measured process waits: that process first imports and warms up (one wait
run to its end, as in a triggerer that already serves others), says it is ready, then gets the waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from benchmarks.emulator_process import TOKEN, EmulatorProcess
from benchmarks.fake_dbt_cloud import FakeDbtCloudProcess
from benchmarks.tls import TlsFiles, make_certificate

INTERVAL = 3.0  # seconds between polls, every case
SIZES = (1, 100, 1000, 5000)
DBT_WAITS = 1000
WAITS_PER_RESOURCE = (1, 2, 3, 4)
KIND_CYCLE = ("jupyter_server",) * 4 + ("dask_cluster",) * 3 + ("job_run",) * 3
TARGETS = {"jupyter_server": "running", "dask_cluster": "running", "job_run": "completed"}
RUNS_PER_JOB = 60  # a job's runs are read in one page (100 a page)
JOB_SLEEP = 2  # a run's command: ``sleep 2``
SLOTS = 20  # distinct moments of status change, spread over [1, 3] intervals after the waits start
LEAD = 1.0  # seconds from planning the changes to the waits starting (the rest of the set-up, the go)
TRANSITION = 3 * INTERVAL + 15  # the emulator's pending time, longer than any planned change is away
DEADLINE_INTERVALS = 10  # the waits' deadline, in intervals after the start: none should reach it
DBT_ACCOUNT = 1
DBT_TOKEN = "bench-dbt-cloud-token"  # a fake endpoint's token
READY, RESULT = "BENCH-READY", "BENCH-RESULT "  # the measured process's lines (Airflow logs to stdout too)
MODE_NAMES = {"shared": "shared poll (ours)", "per_wait": "per-wait polling (before)", "dbt": "dbt Cloud trigger"}


@dataclass
class PollCase:
    """One way of waiting at one number of waits."""

    mode: str  # shared, per_wait, dbt
    waits: int
    resources: int
    jobs: int
    interval: float
    wall_seconds: float
    intervals: int
    requests: int
    by_route: dict[str, int]
    requests_per_interval: float
    cpu_seconds: float
    cpu_ms_per_interval: float
    cpu_share: float  # CPU seconds over wall seconds: 1.0 is one core busy all the time
    start_up_seconds: float | None  # until every wait had asked for its first read
    start_up_ms_per_wait: float | None  # CPU until then, per wait (trigger, connection lookup, client)
    polling_cpu_ms_per_interval: float | None  # CPU after that, per interval of that time
    added_peak_rss_kib: int
    kib_per_wait: float
    delay_median_s: float
    delay_p95_s: float
    delay_max_s: float
    events: dict[str, int]
    connections: int  # TCP connections the server saw
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return MODE_NAMES[self.mode]


# ---------------------------------------------------------------------------------------------- the plan


@dataclass
class PlannedResource:
    kind: str
    waits: int
    slot: int  # its moment of change, 0..SLOTS-1
    job: int | None = None  # a run's job, by index


def plan(waits: int, kinds: tuple[str, ...] = KIND_CYCLE) -> list[PlannedResource]:
    """The resources of ``waits`` waits: kinds in ``kinds``' cycle, 1, 2, 3, 4, 1... waits each, spread slots."""
    resources: list[PlannedResource] = []
    left = waits
    runs = 0
    while left > 0:
        index = len(resources)
        kind = kinds[index % len(kinds)]
        count = min(WAITS_PER_RESOURCE[index % len(WAITS_PER_RESOURCE)], left)
        job = None
        if kind == "job_run":
            job = runs // RUNS_PER_JOB
            runs += 1
        resources.append(PlannedResource(kind, count, (index * 7) % SLOTS, job))
        left -= count
    return resources


def change_offset(slot: int, interval: float) -> float:
    """Seconds after the anchor at which a resource of ``slot`` changes: from 1 to 3 intervals."""
    return interval * (1 + 2 * slot / (SLOTS - 1))


# ---------------------------------------------------------------------------------------------- measuring


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5`` into ``/proc/self/clear_refs``); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


WAIT_INDEX: contextvars.ContextVar[int] = contextvars.ContextVar("bench_wait_index", default=-1)


class StartUp:
    """When every wait has asked for its first read: the end of the waits' start-up (trigger, connection
    lookup, client), after which the process only polls. Marked by :func:`track_first_reads`'s wrapper."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, total: int) -> None:
        self.total = total
        self.seen: set[int] = set()
        self.at: float | None = None
        self.cpu: float | None = None

    def asked(self) -> None:
        index = WAIT_INDEX.get()
        if index < 0 or index in self.seen:
            return
        self.seen.add(index)
        if len(self.seen) == self.total:
            self.at, self.cpu = time.time(), _cpu_seconds()


START_UP = StartUp()


def track_first_reads(owner: type, name: str) -> None:
    """Wrap the async method through which a wait asks for a read, to mark :data:`START_UP`: a set lookup per
    read, and the method's own coroutine returned as it is (no frame of ours stays in the wait)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def asking(*args: Any, **kwargs: Any) -> Any:
        START_UP.asked()
        return original(*args, **kwargs)

    setattr(owner, name, asking)


async def _first_event(trigger: Any, index: int = -1) -> tuple[float, str]:
    """Run a trigger to its first event, as the triggerer does; when it came, and its status."""
    WAIT_INDEX.set(index)  # this task's own context (gather runs each wait in a task of its own)
    generator: Any = trigger.run()
    try:
        event = await generator.__anext__()
        return time.time(), str(event.payload.get("status"))
    finally:
        await generator.aclose()


async def _measure(make_triggers: Callable[[], list[Any]], changes: list[float]) -> dict[str, Any]:
    """Make the triggers and run them all at once in this event loop, as the triggerer does; the process's CPU,
    its peak RSS over the RSS before, and each event's delay from its resource's change."""
    gc.collect()
    START_UP.reset(len(changes))
    peak_reset = _reset_peak_rss()
    baseline_kib = _status_kib("VmRSS")
    cpu_before = _cpu_seconds()
    started = time.time()
    triggers = make_triggers()
    results = await asyncio.gather(*(_first_event(trigger, index) for index, trigger in enumerate(triggers)))
    ended = time.time()
    cpu_after = _cpu_seconds()
    peak_kib = _status_kib("VmHWM")
    delays = sorted(max(at - change, 0.0) for (at, _), change in zip(results, changes, strict=True))
    start_up = None
    if START_UP.at is not None and START_UP.cpu is not None:
        start_up = {
            "seconds": START_UP.at - started,
            "cpu": START_UP.cpu - cpu_before,
            "after": cpu_after - START_UP.cpu,
        }
    return {
        "wall": ended - started,
        "cpu": cpu_after - cpu_before,
        "start_up": start_up,
        "added_peak_kib": peak_kib - baseline_kib,
        "peak_reset": peak_reset,
        "delays": delays,
        "events": dict(Counter(status for _, status in results)),
        "started": started,
    }


# ---------------------------------------------------------------------------------------------- the triggers


def per_wait_trigger_class() -> type:
    """``PerWaitStatusTrigger``: ``SaturnStatusTrigger`` as it was before the shared poller (commit 4e9ff4d's
    parent): each wait reads its own resource every interval. Made on first use (Airflow is imported then)."""
    from airflow.triggers.base import TriggerEvent

    from airflow_provider_saturn.client.statuses import KIND_LABELS, decide, error_message_of
    from airflow_provider_saturn.triggers.status import SaturnStatusTrigger, connection_problem

    class PerWaitStatusTrigger(SaturnStatusTrigger):
        """The previous behaviour: one ``get_resource`` per wait per poll interval, nothing shared but the
        client (``shared_async_client``); the same decision, events and deadline."""

        async def run(self) -> AsyncIterator[TriggerEvent]:
            from airflow_provider_saturn.client.errors import SaturnError, SaturnTransientError

            label = f"{KIND_LABELS.get(self.resource_kind, self.resource_kind)} {self.resource_id}"
            started = time.time()
            last_status: str | None = None
            last_problem = ""
            try:
                client = await self._client()
            except Exception as error:  # as the trigger did: one error event, never a crash
                yield self._event("error", None, connection_problem(self.saturn_conn_id, error))
                return
            while True:
                try:
                    resource_now = await client.get_resource(self.resource_kind, self.resource_id)
                except SaturnTransientError as error:
                    last_problem = f"; last error: {error}"
                    self.log.warning("Could not read %s (%s); polling on", label, error)
                except SaturnError as error:
                    yield self._event("error", last_status, str(error))
                    return
                else:
                    decision = decide(resource_now.get("status"), self.target_status, strict=self.strict)
                    last_status = decision.status
                    if decision.outcome == "success":
                        yield self._event("success", last_status, f"Saturn {label} is {self.target_status}")
                        return
                    if decision.outcome == "failure":
                        message = f"Saturn {label}: {decision.reason}: {error_message_of(resource_now)}"
                        yield self._event("error", last_status, message)
                        return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    deadline = datetime.fromtimestamp(self.deadline, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                    message = (
                        f"Timed out waiting for Saturn {label} to be {self.target_status!r} (deadline {deadline}, "
                        f"waited {time.time() - started:.0f}s in this triggerer); last status {last_status!r}"
                        f"{last_problem}"
                    )
                    yield self._event("timeout", last_status, message)
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))

    return PerWaitStatusTrigger


def _saturn_triggers(mode: str, waits: list[list[Any]], deadline: float, interval: float) -> list[Any]:
    from airflow_provider_saturn.triggers import SaturnStatusTrigger

    trigger_class = SaturnStatusTrigger if mode == "shared" else per_wait_trigger_class()
    return [
        trigger_class(
            resource_kind=kind, resource_id=resource_id, target_status=target, deadline=deadline, poll_interval=interval
        )
        for kind, resource_id, target, _ in waits
    ]


def _dbt_triggers(waits: list[list[Any]], deadline: float, interval: float) -> list[Any]:
    from airflow.providers.dbt.cloud.triggers.dbt import DbtCloudRunJobTrigger

    return [
        DbtCloudRunJobTrigger(
            conn_id="dbt_cloud_default",
            run_id=int(run_id),
            end_time=deadline,
            poll_interval=interval,
            account_id=DBT_ACCOUNT,
        )
        for _, run_id, _, _ in waits
    ]


async def _warm_up(mode: str, warm: dict[str, Any], interval: float) -> None:
    """One wait to its end before anything is measured, in the event loop of the waits: the imports, the
    connection lookup, the client and its pools (ours), aiohttp's first session (dbt), as in a triggerer that
    already runs other waits."""
    deadline = time.time() + 60
    if mode == "dbt":
        waits = [["dbt_run", warm["run_id"], "success", 0.0]]
        await _measure(lambda: _dbt_triggers(waits, deadline, interval), [0.0])
    else:
        waits = [["jupyter_server", warm["id"], "running", 0.0]]
        await _measure(lambda: _saturn_triggers(mode, waits, deadline, interval), [0.0])


def child(mode: str, stdin: IO[str]) -> dict[str, Any]:
    """The measured process: warm up, say ready, get the waits, run them, report."""
    setup = json.loads(stdin.readline())
    os.environ["SSL_CERT_FILE"] = setup["cert"]  # before aiohttp and httpx make their default contexts
    if mode == "dbt":
        os.environ["AIRFLOW_CONN_DBT_CLOUD_DEFAULT"] = json.dumps(
            {"conn_type": "dbt_cloud", "host": setup["host"], "login": str(DBT_ACCOUNT), "password": DBT_TOKEN}
        )
        from airflow.providers.dbt.cloud.hooks.dbt import DbtCloudHook

        track_first_reads(DbtCloudHook, "get_job_status")
    else:
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps(
            {"conn_type": "saturn", "host": setup["url"], "password": TOKEN}
        )
        import airflow_provider_saturn.triggers  # noqa: F401 - imports are not what is measured
        from airflow_provider_saturn.client.async_client import AsyncSaturnClient
        from airflow_provider_saturn.client.poller import SharedPoller

        if mode == "shared":
            track_first_reads(SharedPoller, "next_answer")
        else:
            track_first_reads(AsyncSaturnClient, "get_resource")
    interval = float(setup["interval"])

    async def main() -> dict[str, Any]:
        await _warm_up(mode, setup["warm"], interval)
        print(READY, flush=True)
        spec = json.loads(stdin.readline())  # blocks the loop, which has nothing else to do meanwhile
        waits, deadline = spec["waits"], float(spec["deadline"])
        changes = [float(change) for *_, change in waits]
        if mode == "dbt":
            return await _measure(lambda: _dbt_triggers(waits, deadline, interval), changes)
        return await _measure(lambda: _saturn_triggers(mode, waits, deadline, interval), changes)

    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:  # python -m benchmarks.shared_poll with BENCH_PROFILE=<file>: cProfile of the measured process
        import cProfile

        profiler = cProfile.Profile()
        measured = profiler.runcall(asyncio.run, main())
        profiler.dump_stats(f"{profile_to}.{mode}")
    else:
        measured = asyncio.run(main())
    measured["mode"] = mode
    return measured


# ---------------------------------------------------------------------------------------------- set-up


class MeasuredProcess:
    """The fresh process that runs the waits: started, warmed up, then handed the waits."""

    def __init__(self, mode: str, setup: dict[str, Any]) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.shared_poll", "--child", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(setup) + "\n")
        self.process.stdin.flush()
        while (line := self.process.stdout.readline()) and line.strip() != READY:
            pass  # log lines of the warm-up
        if not line:
            self.process.kill()
            raise RuntimeError(f"The measured process did not get ready\n{self._errors()}")

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def run(self, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            output, _ = self.process.communicate(json.dumps(spec) + "\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise RuntimeError(f"The measured process took longer than {timeout:.0f} s\n{self._errors()}") from None
        if self.process.returncode != 0:
            raise RuntimeError(f"The measured process failed ({self.process.returncode})\n{self._errors()}")
        result = next(line for line in reversed(output.splitlines()) if line.startswith(RESULT))
        return dict(json.loads(result.removeprefix(RESULT)))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._stderr.close()


class SaturnSetup:
    """Makes the planned resources in the emulator, with their changes at planned moments."""

    def __init__(self, emulator: EmulatorProcess, tls: TlsFiles) -> None:
        import requests

        from airflow_provider_saturn.client.defaults import client_headers

        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers.update(client_headers(TOKEN))
        self.cert = str(tls.cert)  # per request: REQUESTS_CA_BUNDLE in the environment beats the session's

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.emulator.url}/{path}"
        response = self.session.request(method, url, timeout=60, verify=self.cert, **kwargs)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        """Close the set-up's connection (an idle TLS connection would hold up the emulator's stop)."""
        self.session.close()

    def warm_resource(self) -> str:
        """A Jupyter server already running, for the measured process's warm-up wait."""
        group = {"kind": "workspace", "count": 1, "prefix": "warm", "started_ago_seconds": TRANSITION + 60}
        return str(self.emulator.control("/_emulator/seed", {"groups": [group]})["ids"][0])

    def make(self, planned: list[PlannedResource], interval: float) -> list[list[Any]]:
        """The resources of the plan, changing at their slots' moments after now + ``LEAD``; returns the waits:
        ``[kind, id, target status, moment of change]``, several per resource."""
        job_count = max((resource.job for resource in planned if resource.job is not None), default=-1) + 1
        run_names: list[list[str]] = []
        job_ids: list[str] = []
        if job_count:
            group = {"kind": "job", "count": job_count, "prefix": "bench-job", "command": f"sleep {JOB_SLEEP}"}
            job_ids = self.emulator.control("/_emulator/seed", {"groups": [group]})["ids"]
            runs_per_job = Counter(resource.job for resource in planned if resource.job is not None)
            for job, job_id in enumerate(job_ids):
                for _ in range(runs_per_job[job]):
                    self.api("POST", f"api/jobs/{job_id}/start", json={})
                summaries = self.api("GET", f"api/jobs/{job_id}/runtimesummary", params={"page_size": 100})
                run_names.append([summary["name"] for summary in summaries["job_summaries"]])
        anchor = time.time() + LEAD
        # Jupyter servers and Dask clusters: pending, started so long ago that they turn running at their moment.
        groups, members = [], []
        sent = time.time()
        for kind, seed_kind in (("jupyter_server", "workspace"), ("dask_cluster", "dask_cluster")):
            for slot in range(SLOTS):
                chosen = [index for index, res in enumerate(planned) if res.kind == kind and res.slot == slot]
                if not chosen:
                    continue
                change = anchor + change_offset(slot, interval)
                ago = TRANSITION - (change - sent)
                groups.append({"kind": seed_kind, "count": len(chosen), "start": True, "started_ago_seconds": ago})
                members.append((chosen, change))
        ids: dict[int, str] = {}
        changes: dict[int, float] = {}
        if groups:
            answer = self.emulator.control("/_emulator/seed", {"groups": groups})
            for (chosen, change), seeded in zip(members, answer["groups"], strict=True):
                ids.update(zip(chosen, seeded["ids"], strict=True))
                changes.update(dict.fromkeys(chosen, change))
        # Job runs: each job's runs move so that their sleep ends at the moment of the job's first run.
        next_run = Counter[int]()
        for job, job_id in enumerate(job_ids):
            runs = [index for index, res in enumerate(planned) if res.job == job]
            change = anchor + change_offset(planned[runs[0]].slot, interval)
            ago = TRANSITION + JOB_SLEEP - (change - time.time())
            self.emulator.control("/_emulator/backdate", {"kind": "job", "id": job_id, "seconds": ago})
            for index in runs:
                ids[index] = f"{job_id}/{run_names[job][next_run[job]]}"
                next_run[job] += 1
                changes[index] = change
        return [
            [res.kind, ids[index], TARGETS[res.kind], changes[index]]
            for index, res in enumerate(planned)
            for _ in range(res.waits)
        ]


def _result(
    mode: str, waits: int, planned: list[PlannedResource], measured: dict[str, Any], stats: dict[str, Any]
) -> PollCase:
    by_route = {route: count for route, count in stats["by_route"].items() if count}
    requests = sum(by_route.values())
    intervals = int(measured["wall"] // INTERVAL) + 1  # the polls a wait may make in the time the waits ran
    delays = measured["delays"]
    notes = [] if measured["peak_reset"] else ["VmHWM could not be reset: peak RSS is the process's"]
    start_up = measured["start_up"]
    polling_seconds = measured["wall"] - start_up["seconds"] if start_up else 0.0
    polling = None
    if start_up and polling_seconds >= INTERVAL / 2:
        polling = 1000 * start_up["after"] / (polling_seconds / INTERVAL)
    return PollCase(
        mode=mode,
        waits=waits,
        resources=len(planned),
        jobs=len({res.job for res in planned if res.job is not None}),
        interval=INTERVAL,
        wall_seconds=measured["wall"],
        intervals=intervals,
        requests=requests,
        by_route=by_route,
        requests_per_interval=requests / intervals,
        cpu_seconds=measured["cpu"],
        cpu_ms_per_interval=1000 * measured["cpu"] / (measured["wall"] / INTERVAL),
        cpu_share=measured["cpu"] / measured["wall"],
        start_up_seconds=start_up["seconds"] if start_up else None,
        start_up_ms_per_wait=1000 * start_up["cpu"] / waits if start_up else None,
        polling_cpu_ms_per_interval=polling,
        added_peak_rss_kib=measured["added_peak_kib"],
        kib_per_wait=measured["added_peak_kib"] / waits,
        delay_median_s=statistics.median(delays),
        delay_p95_s=delays[math.ceil(0.95 * len(delays)) - 1],
        delay_max_s=delays[-1],
        events=measured["events"],
        connections=int(stats.get("connections", 0)),
        notes=notes,
    )


def run_saturn(mode: str, waits: int, tls: TlsFiles) -> PollCase:
    """``waits`` mixed waits, ``shared`` or ``per_wait``, against a fresh emulator over TLS."""
    with EmulatorProcess(transition_seconds=TRANSITION, tls=tls) as emulator:
        emulator.control("/_emulator/config", {"transition_seconds": TRANSITION})
        setup = SaturnSetup(emulator, tls)
        warm = {"id": setup.warm_resource()}
        measured_process = MeasuredProcess(
            mode, {"cert": str(tls.cert), "url": emulator.url, "interval": INTERVAL, "warm": warm}
        )
        try:
            planned = plan(waits)
            wait_list = setup.make(planned, INTERVAL)
            setup.close()
            emulator.control("/_emulator/stats", method="DELETE")
            deadline = time.time() + LEAD + DEADLINE_INTERVALS * INTERVAL
            measured = measured_process.run(
                {"waits": wait_list, "deadline": deadline}, timeout=LEAD + (DEADLINE_INTERVALS + 10) * INTERVAL + 120
            )
        finally:
            measured_process.close()
        stats = emulator.control("/_emulator/stats", method="GET")
    return _result(mode, waits, planned, measured, stats)


def run_dbt(waits: int, tls: TlsFiles) -> PollCase:
    """``waits`` ``DbtCloudRunJobTrigger`` waits (several per run) against the fake dbt Cloud over TLS."""
    with FakeDbtCloudProcess(tls) as fake:
        fake.control("/_fake/runs", {"runs": {"1": 0}})  # the warm-up run: already succeeded
        measured_process = MeasuredProcess(
            "dbt", {"cert": str(tls.cert), "host": fake.host, "interval": INTERVAL, "warm": {"run_id": 1}}
        )
        try:
            planned = plan(waits, kinds=("dbt_run",))
            anchor = time.time() + LEAD
            changes = [anchor + change_offset(res.slot, INTERVAL) for res in planned]
            fake.control("/_fake/runs", {"runs": {str(100 + index): change for index, change in enumerate(changes)}})
            wait_list = [
                ["dbt_run", 100 + index, "success", changes[index]]
                for index, res in enumerate(planned)
                for _ in range(res.waits)
            ]
            fake.control("/_fake/stats", method="DELETE")
            deadline = time.time() + LEAD + DEADLINE_INTERVALS * INTERVAL
            measured = measured_process.run(
                {"waits": wait_list, "deadline": deadline}, timeout=LEAD + (DEADLINE_INTERVALS + 10) * INTERVAL + 120
            )
        finally:
            measured_process.close()
        stats = fake.control("/_fake/stats", method="GET")
    route = f"GET /api/v2/accounts/{DBT_ACCOUNT}/runs/{{id}}/"
    return _result("dbt", waits, planned, measured, {"by_route": {route: stats["requests"]}, **stats})


@dataclass
class SharedPollResults:
    """Every case of one run."""

    cases: list[PollCase]
    interval: float = INTERVAL
    notes: list[str] = field(default_factory=list)

    def case(self, mode: str, waits: int) -> PollCase | None:
        return next((case for case in self.cases if case.mode == mode and case.waits == waits), None)


def run(sizes: tuple[int, ...] = SIZES, dbt_waits: int | None = DBT_WAITS) -> SharedPollResults:
    """Every size with the shared poll and with per-wait polling, and the dbt Cloud trigger at ``dbt_waits``."""
    cases = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as directory:
        tls = make_certificate(Path(directory))
        for waits in sizes:
            for mode in ("shared", "per_wait"):
                print(f"    {MODE_NAMES[mode]}, {waits:,} waits ...", flush=True)
                cases.append(run_saturn(mode, waits, tls))
        if dbt_waits:
            print(f"    {MODE_NAMES['dbt']}, {dbt_waits:,} waits ...", flush=True)
            cases.append(run_dbt(dbt_waits, tls))
    return SharedPollResults(cases)


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(RESULT + json.dumps(child(sys.argv[sys.argv.index("--child") + 1], sys.stdin)), flush=True)
    else:
        arguments = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
        sizes = tuple(int(argument) for argument in arguments) or SIZES
        results = run(sizes, dbt_waits=DBT_WAITS if "--no-dbt" not in sys.argv else None)
        for case in results.cases:
            print(json.dumps(asdict(case)))
