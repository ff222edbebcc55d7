"""``@task.saturn`` against the emulator in runner mode, in this process: requests per run, the read of a large
result, and the client-side CPU of shipping a large argument.

1. **Requests per run**: one sync try of a ``@task.saturn`` task (``poll_interval=1``, the log followed or not,
   default ``keep_job``) whose function runs 3 s and returns a small dict. The emulator counts the requests by
   route; the run's status reads (one per poll) are the wait's own, and so are the log reads made at the polls
   while the run runs (when the log is followed: they grow with the run's length); everything else is the run's
   overhead (the job made, the start and the run's identification, the final read of the log that holds the
   result, the delete).
2. **A 1 MiB result**: a function returns a text whose JSON is just under the 1 MiB result bound. The first try
   is stopped once its run has started (``timeout`` shorter than the run, ``stop_on_failure=False``: as if its
   worker died); once Saturn says the run completed, a retry (Airflow's own, same task state store) re-attaches
   to it and reads the whole result back from the run's log: its ``execute`` is timed, and its requests counted.
3. **Shipping a 256 KiB argument**: the CPU time of this thread (``time.thread_time``; the emulator serves from
   threads of its own) to build the job's files (source, arguments, bootstrap, with the size checks) and to send
   the job create carrying them, for a list of floats whose JSON is 256 KiB, and for a one-number argument;
   medians of 15.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from benchmarks.child import measured_in_child
from benchmarks.report import Row

TOKEN = "bench-token"
SMALL_RESULT_GOAL = 6  # requests beyond the status polls
LARGE_RESULT_GOAL = 1.0  # seconds
RUN_SECONDS = 3.0  # how long the small function runs
STATUS_ROUTE = "GET /api/jobs/{id}/runtimesummary"
RESULT_BOUND = 1024 * 1024
RUN_ID = "manual__2026-12-06T10:00:00+00:00"
ROUTE_NAMES = {
    "GET /api/jobs": "job found by name (jobs list)",
    "POST /api/jobs": "job create",
    "GET /api/jobs/{id}": "job read (its environment values masked in the log)",
    "PATCH /api/jobs/{id}": "job update",
    "POST /api/jobs/{id}/start": "start",
    "GET /api/jobs/{id}/history": "run's pods (history, for its log)",
    "GET /api/jobs/{id}/logs": "log page",
    "DELETE /api/jobs/{id}": "delete",
    STATUS_ROUTE: "run status",
}
LOG_ROUTES = ("GET /api/jobs/{id}/history", "GET /api/jobs/{id}/logs")
FOLLOWING = "log followed at a poll"


def small(x: int, pause: float) -> dict[str, int]:  # shipped as source: self-contained
    import time

    time.sleep(pause)  # runs across a few polls, so that the log is followed while it runs
    return {"x": x, "double": 2 * x}


def large(size: int, pause: float) -> str:  # shipped as source: self-contained
    import time

    time.sleep(pause)  # outlasts the first try
    return "x" * size


def takes(values: list[float]) -> int:  # shipped as source: self-contained
    return len(values)


class BenchTry:
    """Just enough of a task instance's try for ``execute``: ids, try numbers and recorded XCom pushes."""

    def __init__(self, task_id: str, try_number: int, max_tries: int) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "bench", task_id, RUN_ID, -1
        self.try_number, self.max_tries = try_number, max_tries
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class StateStore:
    """Airflow 3.3's task state store (``get``/``set``), kept across the tries of one task instance."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def context_of(task_id: str, store: StateStore, try_number: int = 1) -> dict[str, Any]:
    """A try's context: try 2 of a task with ``retries=1`` is Airflow's own retry."""
    ti = BenchTry(task_id, try_number, max_tries=1)
    return {"ti": ti, "task_instance": ti, "run_id": RUN_ID, "task_state_store": store}


def saturn_operator(function: Any, args: tuple[Any, ...], **settings: Any) -> Any:
    """The operator ``@task.saturn(**settings)`` makes of ``function(*args)``, in a DAG of its own."""
    try:
        from airflow.sdk import DAG, task
    except ImportError:  # Airflow 2.11
        from airflow import DAG
        from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

    with DAG("bench", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        task.saturn(**{"retries": 1, "deferrable": False, "timeout": 120, **settings})(function)(*args)
    (operator,) = dag.tasks
    return operator


class RoutesInOrder(dict[str, int]):
    """The emulator's requests-by-route counter, also keeping the routes in the order the requests came."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def __setitem__(self, route: str, count: int) -> None:
        self.order.append(route)
        super().__setitem__(route, count)


def _stats(emulator: Any) -> dict[str, int]:
    return dict(emulator.config.stats.by_route)


def _clear_stats(emulator: Any) -> RoutesInOrder:
    """Forget the requests counted so far; the counter from now on."""
    routes = RoutesInOrder()
    stats = emulator.config.stats
    stats.requests, stats.by_route, stats.connections, stats.faults = 0, routes, set(), {}
    return routes


class PollCounter:
    """Wraps the hook's ``get_resource``, which the sync wait calls once per status poll (and nothing else does
    here): where in ``routes.order`` each status poll's request is."""

    def __init__(self, hook: Any, routes: RoutesInOrder) -> None:
        self.positions: list[int] = []
        self._routes = routes
        self._read = hook.get_resource
        hook.get_resource = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.positions.append(len(self._routes.order))
        return self._read(*args, **kwargs)


@dataclass
class RunRequests:
    """The requests of one sync try of a small function, in the order sent; where the wait's status polls are."""

    fetch_logs: bool
    value: Any
    order: list[str]
    poll_positions: list[int]

    @property
    def polls(self) -> int:
        return len(self.poll_positions)

    def labels(self) -> list[str]:
        """Each request, in order, said as what it is. The status reads outside the wait are the start's run
        identification; a log request between two status polls is the following of the log while the run runs
        (its cost grows with the run's length, one history read and the new page a poll), the ones after the
        last poll are the final read of the log, where the result is."""
        labels = []
        last_poll = self.poll_positions[-1] if self.poll_positions else -1
        for position, route in enumerate(self.order):
            if position in self.poll_positions:
                labels.append("status poll")
            elif route == STATUS_ROUTE:
                labels.append("run identification")
            elif route in LOG_ROUTES and self.poll_positions and self.poll_positions[0] < position < last_poll:
                labels.append(FOLLOWING)
            else:
                labels.append(ROUTE_NAMES.get(route, route))
        return labels

    @property
    def following(self) -> int:
        """The log requests sent at the status polls while the run ran (none when the log is not followed)."""
        return self.labels().count(FOLLOWING)

    @property
    def beyond_polls(self) -> int:
        """The requests beyond the status polls and the log's following at them."""
        return len(self.order) - self.polls - self.following

    def beyond_by_what(self) -> dict[str, int]:
        """The requests beyond the status polls, counted by what they are (in the order first seen)."""
        counted: dict[str, int] = {}
        for label in self.labels():
            if label not in ("status poll", FOLLOWING):
                counted[label] = counted.get(label, 0) + 1
        return counted


@dataclass
class LargeResultRead:
    """A retry's ``execute`` on a completed run whose result is just under 1 MiB."""

    result_bytes: int
    right_value: bool
    seconds: float
    by_route: dict[str, int]
    log_lines: int


@dataclass
class ShippingCpu:
    """Thread CPU of building a job's files and sending its create, medians."""

    argument_bytes: int
    total_ms: float
    tiny_ms: float
    build_ms: float
    create_ms: float


@dataclass
class SaturnTaskCosts:
    """What a ``@task.saturn`` run costs, as measured here."""

    poll_interval: float
    followed: RunRequests
    unfollowed: RunRequests
    large: LargeResultRead
    shipping: ShippingCpu


def requests_per_run(emulator: Any, poll_interval: float, fetch_logs: bool) -> RunRequests:
    """One sync try of a small function, with its log followed or not."""
    operator = saturn_operator(small, (21, RUN_SECONDS), poll_interval=poll_interval, fetch_logs=fetch_logs)
    routes = _clear_stats(emulator)
    polls = PollCounter(operator.hook, routes)
    value = operator.execute(context_of(operator.task_id, StateStore()))
    return RunRequests(fetch_logs, value, list(routes.order), polls.positions)


def large_result_read(emulator: Any) -> LargeResultRead:
    """A first try stopped while its run goes on; once the run completed, the retry's ``execute``, timed."""
    from airflow_provider_saturn.client import SaturnClient, SaturnWaitTimeoutError
    from airflow_provider_saturn.decorators.job_naming import function_job_name

    size = RESULT_BOUND - 64  # its JSON (the quotes) stays under the bound
    store = StateStore()
    first = saturn_operator(large, (size, 2.0), stop_on_failure=False, timeout=0.5, poll_interval=0.2)
    try:
        first.execute(context_of(first.task_id, store))
        raise RuntimeError("the first try was meant to time out while its run went on")
    except SaturnWaitTimeoutError:
        pass  # as if its worker died: the run goes on in Saturn
    with SaturnClient(url=emulator.url, api_token=TOKEN) as client:
        job = client.find_job_by_name(function_job_name("bench", first.task_id, RUN_ID, -1))
        if job is None:
            raise RuntimeError("the first try made no job")
        deadline = time.monotonic() + 60
        while (runs := client.list_job_runs(job["id"])) and runs[-1]["status"] != "completed":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run did not complete: {runs}")
            time.sleep(0.1)
        lines = sum(1 for _ in client.job_logs(job["id"], runs[-1]["run_name"]))
    retry = saturn_operator(large, (size, 2.0), poll_interval=0.2)
    _clear_stats(emulator)
    started = time.perf_counter()
    value = retry.execute(context_of(retry.task_id, store, try_number=2))
    seconds = time.perf_counter() - started
    return LargeResultRead(len(json.dumps(value)), value == "x" * size, seconds, _stats(emulator), lines)


def argument_of(size: int) -> list[float]:
    """A list of floats whose JSON takes at most ``size`` bytes, as near to it as the numbers go."""
    values: list[float] = []
    length = 2  # the brackets
    for number in range(size):
        value = round(0.123456789 * number, 9)
        added = len(json.dumps(value)) + (2 if values else 0)  # ", " before all but the first
        if length + added > size:
            break
        values.append(value)
        length += added
    return values


def shipping_cpu(repeats: int = 15) -> ShippingCpu:
    """Thread CPU of building the job's files and sending the create, for a 256 KiB argument and a tiny one."""
    from airflow_provider_saturn.hooks import SaturnHook
    from airflow_provider_saturn.remote import bootstrap_command, build_job_files, function_source, new_marker

    values = argument_of(256 * 1024)
    source, name = function_source(takes)
    hook = SaturnHook()
    hook.get_conn()  # the connection and client made beforehand, as in a task that has already made a request

    def ship(argument: Any, index: int) -> tuple[float, float]:
        started = time.thread_time()
        files = build_job_files(source, name, [argument], {}, "json", new_marker(), RESULT_BOUND)
        built = time.thread_time()
        hook.create_job(name=f"bench-ship-{index}", command=bootstrap_command(), config_files=files)
        return built - started, time.thread_time() - built

    big, tiny = [], []
    for index in range(repeats + 2):  # the first two warm up
        build, send = ship(values, 2 * index)
        small_build, small_send = ship(1.5, 2 * index + 1)
        if index >= 2:
            big.append((build, send))
            tiny.append(small_build + small_send)
    return ShippingCpu(
        argument_bytes=len(json.dumps(values)),
        total_ms=1000 * statistics.median(build + send for build, send in big),
        tiny_ms=1000 * statistics.median(tiny),
        build_ms=1000 * statistics.median(build for build, _ in big),
        create_ms=1000 * statistics.median(send for _, send in big),
    )


def measure(poll_interval: float) -> SaturnTaskCosts:
    """Every measure, against one emulator in runner mode in this process (``saturn_default`` set to it)."""
    import os

    from airflow_provider_saturn.emulator import SaturnEmulator

    with SaturnEmulator(token=TOKEN, transition_seconds=0.05, run_commands=True, kill_grace_seconds=0.5) as emulator:
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps(
            {"conn_type": "saturn", "host": emulator.url, "password": TOKEN}
        )
        followed = requests_per_run(emulator, poll_interval, fetch_logs=True)
        unfollowed = requests_per_run(emulator, poll_interval, fetch_logs=False)
        large_read = large_result_read(emulator)
        shipping = shipping_cpu()
    return SaturnTaskCosts(poll_interval, followed, unfollowed, large_read, shipping)


def run(poll_interval: float = 1.0) -> SaturnTaskCosts:
    """:func:`measure` in a fresh process (its Airflow, its connection and its task logs stay there)."""
    found = measured_in_child("benchmarks.saturn_task", str(poll_interval))
    return SaturnTaskCosts(
        poll_interval=found["poll_interval"],
        followed=RunRequests(**found["followed"]),
        unfollowed=RunRequests(**found["unfollowed"]),
        large=LargeResultRead(**found["large"]),
        shipping=ShippingCpu(**found["shipping"]),
    )


def _said(counted: dict[str, int]) -> str:
    return ", ".join(f"{count}x {what}" for what, count in counted.items() if count)


def rows(costs: SaturnTaskCosts) -> list[Row]:
    """The figures as rows of the results table."""
    rows = []
    for run in (costs.followed, costs.unfollowed):
        right = run.value == {"x": 21, "double": 42}
        rows.append(
            Row(
                f"@task.saturn, small result, log {'followed' if run.fetch_logs else 'not followed'}: requests per "
                "run beyond the run's status polls (and the log's following at them)",
                f"{run.beyond_polls} ({_said(run.beyond_by_what())}); plus {run.polls} status polls at "
                f"{costs.poll_interval:g} s"
                + (f", and {run.following} requests following the log at them" if run.fetch_logs else "")
                + ("" if right else "; WRONG VALUE"),
                f"<= {SMALL_RESULT_GOAL}",
                run.beyond_polls <= SMALL_RESULT_GOAL and right,
            )
        )
    large_read, shipping = costs.large, costs.shipping
    routes = _said({ROUTE_NAMES.get(route, route): count for route, count in large_read.by_route.items()})
    rows += [
        Row(
            "@task.saturn, 1 MiB result: a retry's read of it from the completed run's log",
            f"{large_read.seconds:.2f} s for {large_read.result_bytes:,} bytes of JSON ({large_read.log_lines:,} "
            f"log lines; requests: {routes})" + ("" if large_read.right_value else "; WRONG VALUE"),
            f"< {LARGE_RESULT_GOAL:g} s",
            large_read.right_value and large_read.seconds < LARGE_RESULT_GOAL,
        ),
        Row(
            "@task.saturn, 256 KiB argument: client CPU to ship it (files built, job create sent)",
            f"{shipping.total_ms:.1f} ms for {shipping.argument_bytes:,} bytes of JSON ({shipping.build_ms:.1f} ms "
            f"building the files, {shipping.create_ms:.1f} ms sending the create); a 1-number argument: "
            f"{shipping.tiny_ms:.1f} ms",
        ),
    ]
    return rows


def sequence_table(costs: SaturnTaskCosts) -> tuple[str, list[str], list[list[str]]]:
    """The requests of the run with its log followed, in the order sent, for RESULTS.md."""
    run = costs.followed
    table = [
        [str(number), route, label]
        for number, (route, label) in enumerate(zip(run.order, run.labels(), strict=True), 1)
    ]
    return (
        "@task.saturn, one run of a small function (log followed), request by request",
        ["#", "request", "what for"],
        table,
    )


NOTES = [
    "**`@task.saturn`** (`benchmarks/saturn_task.py`). In a fresh process, the emulator in runner mode (its job",
    "runs are real processes: the bootstrap, the function, the result frames in the log) and the operator's",
    "`execute`, called with a minimal try (ids, try numbers, a task state store); sync waits. *Requests per run*:",
    "one try of a function that runs 3 s and returns a small dict, `poll_interval=1`, its log followed (the",
    "default) and not, `keep_job` default (the job deleted after success); requests in order from the emulator's",
    "counter; the wait's status polls (its calls of the hook's `get_resource`, one request each) are left out,",
    "and so are the log reads at the polls before the last (the log followed while the run runs, one history",
    "read and the new page a poll: a cost of each poll, not of the result; the final read after the run ended,",
    "which carries the result, is counted); the status",
    "reads around the start (the job's runs before it and after it, to know the new run) are counted as run",
    "identification. *1 MiB result*: a first try stopped while its run goes on (as if its worker died), then,",
    "once Saturn says the run completed, the retry's whole `execute` (job found by name, run re-attached, log",
    "read in pages of up to 1,000 lines and frames verified, job deleted), wall time. *256 KiB argument*:",
    "`time.thread_time` of the measuring thread (the emulator serves from its own threads) around",
    "`build_job_files` and `SaturnHook.create_job`, medians of 15 after 2 warm-ups. With the log followed, each",
    "poll while the run runs reads the job's history (a retry of the run is a new pod, which only the history",
    "shows) and the new page; reading the history only until a run without retries has its one pod would make",
    "that 1 request a poll (not done). It was 13 requests beyond the polls at first (8 without the log).",
    "",
]


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(asdict(measure(float(sys.argv[-1])))))
    else:
        measured = run()
        for row in rows(measured):
            print(f"{row.measure}: {row.figure}" + (f" (goal {row.goal}: {row.verdict})" if row.goal else ""))
        for number, route, label in sequence_table(measured)[2]:
            print(f"  {number:>2} {route:<40} {label}")
