"""A job run's log followed into the task log under unlucky and hostile conditions (issue 14, points 11-15):
a failed page, keys that cycle, many pods, huge lines, and a triggerer restart. The sync wait of
``SaturnRunJobOperator`` and the real trigger alike, against a misbehaving Saturn or the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_saturn.client import RetryPolicy, SaturnClient, SaturnResourceError
from airflow_provider_saturn.client.errors import SaturnBadResponseError, SaturnError
from airflow_provider_saturn.client.job_runs import job_run_key
from airflow_provider_saturn.client.logs import LOG_PAGE_SIZE, MAX_KEY_CHARS, MAX_LOG_REQUESTS_PER_READ, LogCursor
from airflow_provider_saturn.compat import mask_secret
from airflow_provider_saturn.operators import SaturnRunJobOperator
from airflow_provider_saturn.run_logs import (
    FINAL_LOG_READS,
    MAX_LINE_CHARS,
    MAX_TAIL_CHARS,
    TAIL_KEY,
    TAIL_LINES,
    with_log_tail,
)
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from airflow_provider_saturn.triggers import status as status_module
from airflow_provider_saturn.triggers.status import wait_event
from airflow_provider_saturn.waiting import check_event
from tests.harness import first_event
from tests.misbehaving_server import Answer, MisbehavingServer, Seen, misbehaving_server

TOKEN = "run-logs-review-token"
JOB = "c" * 32
RUN = "job-logs-1"
KEY = job_run_key(JOB, RUN)
NO_RETRY = RetryPolicy(max_attempts=1)
TASK_LOG_LINE = re.compile(r"\[(job-[a-z0-9-]+)\] (.*?)(?:\s+\[[\w.]+\]\s+loc=\S+)?\s*$")


def shown(captured: str) -> list[str]:
    """The run's lines as the task log shows them (``[<pod>] <content>``), in order."""
    return [match.group(2) for line in captured.splitlines() if (match := TASK_LOG_LINE.search(line))]


class RunLogServer:
    """Saturn's job endpoints for one run, as a :class:`MisbehavingServer` responder: the run's status, its pods
    in the job's history, and each pod's log in pages keyed ``"<pod>:<offset>"``.

    :param logs: each pod's lines (append to grow a log).
    :param status: the run's status, given how many log pages were asked for so far.
    :param fails: whether the n-th log request (from 0) gets a 500.
    """

    def __init__(
        self,
        logs: dict[str, list[str]],
        *,
        status: Callable[[int], str] = lambda pages: "running",
        fails: Callable[[int], bool] = lambda n: False,
    ) -> None:
        self.logs = logs
        self.status = status
        self.fails = fails
        self.pod_status: dict[str, str] = dict.fromkeys(logs, "running")
        self.other_pods: list[dict[str, Any]] = []
        self.log_requests: list[dict[str, str]] = []
        self.history_requests = 0

    def __call__(self, seen: Seen) -> Answer:
        url = urlsplit(seen.path)
        query = dict(parse_qsl(url.query))
        if url.path == f"/api/jobs/{JOB}/runtimesummary":
            summary = {"name": RUN, "status": self.status(len(self.log_requests))}
            return Answer.json({"job_summaries": [summary], "prev_key": None, "next_key": None})
        if url.path == f"/api/jobs/{JOB}/history":
            self.history_requests += 1
            mine = [self.pod(name, status) for name, status in reversed(self.pod_status.items())]
            return Answer.json({"pods": self.other_pods + mine})
        if url.path == f"/api/jobs/{JOB}/logs":
            number = len(self.log_requests)
            self.log_requests.append(query)
            if self.fails(number):
                return Answer.json({"message": "the log store is down"}, status=500, reason="Internal Server Error")
            return Answer.json(self.page(query))
        return Answer.json({"message": "not found"}, status=404, reason="Not Found")

    @staticmethod
    def pod(name: str, status: str, run: str = RUN) -> dict[str, Any]:
        stamp = "2026-01-01T00:00:00+00:00"
        return {"pod_name": name, "status": status, "last_seen": stamp, "start_time": stamp, "label_job_name": run}

    def page(self, query: dict[str, str]) -> dict[str, Any]:
        pod, key = query["pod_name"], query.get("next_key")
        start = int(key.rpartition(":")[2]) if key else 0
        size = int(query.get("page_size", 100))
        lines = self.logs.get(pod, [])[start : start + size]
        return {
            "logs": [line_json(pod, content) for content in lines],
            "prev_key": key,
            "next_key": f"{pod}:{start + len(lines)}" if lines else None,
        }


def line_json(pod: str, content: str) -> dict[str, Any]:
    return {"timestamp": "2026-01-01T00:00:01+00:00", "content": content, "pod_name": pod, "container_name": "main"}


def connect(server: MisbehavingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``saturn_default`` points at ``server``, without retries (a failed page fails at once)."""
    connection = {"conn_type": "saturn", "host": server.url, "password": TOKEN, "extra": {"retry": {"max_attempts": 1}}}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))


def sync_wait(**kwargs: Any) -> dict[str, Any]:
    """The sync wait of ``SaturnRunJobOperator`` on the run, as ``execute`` starts it once the run is known."""
    operator = SaturnRunJobOperator(
        task_id="run", job_id=JOB, deferrable=False, poll_interval=0.05, timeout=20, **kwargs
    )
    return operator.wait_or_defer(KEY, {"id": KEY, "status": "running"}, started_here=False)


def trigger(**kwargs: Any) -> SaturnStatusTrigger:
    settings: dict[str, Any] = {
        "resource_kind": "job_run",
        "resource_id": KEY,
        "target_status": "completed",
        "deadline": time.time() + 20,
        "poll_interval": 0.05,
        "follow_logs": True,
        "retry": NO_RETRY.to_dict(),
        **kwargs,
    }
    return SaturnStatusTrigger(**settings)


def deliver(how: str, server: MisbehavingServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Follow the run to its end the ``how`` way; the trigger's event, or the sync wait's run."""
    connect(server, monkeypatch)
    if how == "sync":
        return sync_wait()
    return asyncio.run(first_event(trigger())).payload


WAYS = pytest.mark.parametrize("how", ["sync", "trigger"])


# ------------------------------------------------------------------------------ 11: a failed page


@WAYS
def test_a_failed_page_loses_no_line_read_before_it(how: str, monkeypatch, capsys) -> None:
    """Pages 1 and 2 arrive, page 3 fails: the 2,000 lines read stay delivered, and the rest follow later."""
    lines = [f"line {number}" for number in range(2500)]
    logs = RunLogServer(
        {"job-logs-1-aaaaa": lines},
        fails=lambda n: n == 2,
        status=lambda pages: "completed" if pages >= 4 else "running",
    )
    with misbehaving_server(logs) as server:
        deliver(how, server, monkeypatch)
    out = capsys.readouterr().out
    assert shown(out) == lines, f"{len(shown(out))} of {len(lines)} lines reached the task log"
    assert "Could not read the job run's log" in out


def test_a_cursor_moves_only_with_the_lines_taken_from_it(monkeypatch) -> None:
    """A reader that stops after 3 lines leaves the cursor there: the next read starts with the 4th line."""
    logs = RunLogServer({"job-logs-1-aaaaa": [f"line {number}" for number in range(10)]})
    with misbehaving_server(logs) as server, SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client:
        cursor = LogCursor()
        reading = client.job_logs(JOB, RUN, since=cursor)
        first = [next(reading)["content"] for _ in range(3)]
        rest = [line["content"] for line in client.job_logs(JOB, RUN, since=cursor)]
    assert first + rest == [f"line {number}" for number in range(10)]


# ------------------------------------------------------------------------------ 12: keys that cycle


def cycling_pages(seen: Seen) -> Answer:
    """A log whose keys go k1 -> k2 -> k1 -> ...: every page full, three distinct pages in all."""
    url = urlsplit(seen.path)
    query = dict(parse_qsl(url.query))
    if url.path.endswith("/runtimesummary"):
        return Answer.json({"job_summaries": [{"name": RUN, "status": "running"}], "next_key": None})
    if url.path.endswith("/history"):
        return Answer.json({"pods": [RunLogServer.pod("job-logs-1-aaaaa", "running")]})
    page, next_key = {None: ("a", "k1"), "k1": ("b", "k2"), "k2": ("c", "k1")}[query.get("next_key")]
    lines = [line_json("job-logs-1-aaaaa", f"{page}{number}") for number in range(LOG_PAGE_SIZE)]
    return Answer.json({"logs": lines, "prev_key": None, "next_key": next_key})


def test_keys_that_cycle_give_each_page_once_within_a_read_and_across_reads() -> None:
    with (
        misbehaving_server(cycling_pages) as server,
        SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client,
    ):
        cursor = LogCursor()
        first = [line["content"] for line in client.job_logs(JOB, RUN, since=cursor)]
        assert len(first) == len(set(first)) == 3 * LOG_PAGE_SIZE, f"{len(first)} lines, {len(set(first))} distinct"
        again = [line["content"] for line in client.job_logs(JOB, RUN, since=LogCursor.from_json(cursor.to_json()))]
        assert again == [], f"{len(again)} lines read again"


def test_the_trigger_shows_a_cycling_log_once(monkeypatch, capsys) -> None:
    polls: list[int] = []

    def respond(seen: Seen) -> Answer:
        if seen.path.split("?")[0].endswith("/runtimesummary"):
            polls.append(1)
            status = "completed" if len(polls) >= 5 else "running"
            return Answer.json({"job_summaries": [{"name": RUN, "status": status}], "next_key": None})
        return cycling_pages(seen)

    with misbehaving_server(respond) as server:
        connect(server, monkeypatch)
        assert asyncio.run(first_event(trigger())).payload["status"] == "success"
    lines = shown(capsys.readouterr().out)
    assert len(lines) == len(set(lines)) == 3 * LOG_PAGE_SIZE, f"{len(lines)} lines, {len(set(lines))} distinct"


# ------------------------------------------------------------------------------ 13: many pods


def many_pods(count: int) -> RunLogServer:
    return RunLogServer({f"job-logs-1-{number:05d}": [f"pod {number}"] for number in range(count)})


def test_pods_of_other_runs_cost_no_request(monkeypatch) -> None:
    logs = many_pods(1)
    logs.other_pods = [RunLogServer.pod(f"job-other-{number}", "completed", "job-other") for number in range(500)]
    with misbehaving_server(logs) as server, SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client:
        assert [line["content"] for line in client.job_logs(JOB, RUN)] == ["pod 0"]
        assert len(server.requests) == 2, "the history, and the one pod of this run"


def test_a_read_is_bounded_and_every_pod_gets_its_turn() -> None:
    logs = many_pods(500)
    with misbehaving_server(logs) as server, SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client:
        cursor = LogCursor()
        reads: list[list[str]] = []
        for _ in range(40):
            before = len(server.requests)
            reads.append([line["content"] for line in client.job_logs(JOB, RUN, since=cursor)])
            assert len(server.requests) - before <= MAX_LOG_REQUESTS_PER_READ, "requests per read"
        seen = [line for read in reads for line in read]
    assert sorted(seen) == sorted(f"pod {number}" for number in range(500)), "every pod's line, once"
    assert set(reads[0]).isdisjoint(reads[1]), "the next read goes on with the pods not read yet"


def test_pods_that_ended_and_were_read_to_the_end_are_not_read_again() -> None:
    logs = many_pods(30)
    logs.pod_status = dict.fromkeys(logs.pod_status, "completed")
    with misbehaving_server(logs) as server, SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client:
        cursor = LogCursor()
        for _ in range(6):
            list(client.job_logs(JOB, RUN, since=cursor))
        before = len(server.requests)
        assert list(client.job_logs(JOB, RUN, since=cursor)) == []
        assert len(server.requests) - before == 1, "only the history: every pod ended and was read to its end"


# ------------------------------------------------------------------------------ 14: huge lines, secrets

HUGE = 1_000_000
SECRET = "s3cr3t-review-value-5e1f"


def huge_log() -> RunLogServer:
    lines = [f"{number} " + "x" * HUGE for number in range(13)] + [f"password={SECRET}"]
    return RunLogServer({"job-logs-1-aaaaa": lines}, status=lambda pages: "error" if pages >= 2 else "running")


def test_the_trigger_s_event_carries_a_bounded_masked_tail(monkeypatch, capsys) -> None:
    mask_secret(SECRET)
    with misbehaving_server(huge_log()) as server:
        event = deliver("trigger", server, monkeypatch)
    assert event["status"] == "error"
    size = len(json.dumps(event))
    assert size < MAX_TAIL_CHARS + 4000, f"a {size}-character event"
    assert SECRET not in json.dumps(event) and event[TAIL_KEY][-1].endswith("password=***")
    with pytest.raises(SaturnResourceError) as caught:
        check_event(event, resource_id=KEY, target="completed")
    assert len(str(caught.value)) < MAX_TAIL_CHARS + 4000
    out = capsys.readouterr().out
    assert SECRET not in out
    assert max(len(line) for line in out.splitlines()) < MAX_LINE_CHARS + 500, "each task log line is cut"


def test_the_sync_wait_fails_with_a_bounded_masked_tail(monkeypatch, capsys) -> None:
    mask_secret(SECRET)
    with misbehaving_server(huge_log()) as server, pytest.raises(SaturnResourceError) as caught:
        deliver("sync", server, monkeypatch)
    message = str(caught.value)
    assert len(message) < MAX_TAIL_CHARS + 4000, f"a {len(message)}-character message"
    assert SECRET not in message and message.endswith("password=***")
    out = capsys.readouterr().out
    assert SECRET not in out
    assert max(len(line) for line in out.splitlines()) < MAX_LINE_CHARS + 500, "each task log line is cut"


def test_a_tail_from_elsewhere_is_bounded_too() -> None:
    """An event made by an older trigger, or forged: the message and a new event stay bounded."""
    huge_tail = ["y" * HUGE] * 50
    assert len(with_log_tail("failed", huge_tail)) < MAX_TAIL_CHARS + 200
    event = wait_event(
        "error", resource_id=KEY, target_status="completed", last_status="error", message="m", log_tail=huge_tail
    )
    assert len(event[TAIL_KEY]) <= TAIL_LINES and len(json.dumps(event)) < MAX_TAIL_CHARS + 2000


# ------------------------------------------------------------------------------ 15: a triggerer restart


def test_a_restarted_trigger_says_once_that_lines_may_appear_again(
    saturn_connection, client: SaturnClient, monkeypatch, capsys
) -> None:
    """A trigger stopped mid-way, then a fresh one from the same serialized kwargs, as after a restart."""
    monkeypatch.setattr(status_module, "RESUMED_AFTER_SECONDS", 0.5, raising=False)
    job = client.create_job("restart", "echo one; sleep 0.6; echo two; sleep 0.6; echo three; sleep 0.6; echo four")
    run = client.start_job(job["id"])
    first = SaturnStatusTrigger(
        resource_kind="job_run",
        resource_id=run["id"],
        target_status="completed",
        deadline=time.time() + 20,
        poll_interval=0.05,
        follow_logs=True,
    )
    _path, kwargs = first.serialize()
    kwargs = json.loads(json.dumps(kwargs))
    with pytest.raises(TimeoutError):
        asyncio.run(first_event(first, limit=1.0))  # the triggerer dies mid-way
    before = shown(capsys.readouterr().out)
    assert before and before[0] == "one"
    time.sleep(0.6)
    event = asyncio.run(first_event(SaturnStatusTrigger(**kwargs))).payload
    assert event["status"] == "success"
    out = capsys.readouterr().out
    notices = [line for line in out.splitlines() if "may appear here a second time" in line]
    assert len(notices) == 1, out
    deferred = datetime.fromtimestamp(kwargs["deferred_at"], UTC).strftime("%H:%M:%S")
    assert deferred in notices[0]
    assert out.index(notices[0]) < out.index("] one"), "said before the lines shown again"
    assert shown(out) == ["one", "two", "three", "four"], "every line, once in this trigger"


def test_a_trigger_started_at_its_deferral_says_nothing_of_a_replay(saturn_connection, client, capsys) -> None:
    job = client.create_job("fresh", "echo one; echo two")
    run = client.start_job(job["id"])
    event = asyncio.run(first_event(SaturnStatusTrigger(**trigger_kwargs(run["id"])))).payload
    assert event["status"] == "success"
    out = capsys.readouterr().out
    assert "second time" not in out and shown(out) == ["one", "two"]


def trigger_kwargs(resource_id: str) -> dict[str, Any]:
    return {
        "resource_kind": "job_run",
        "resource_id": resource_id,
        "target_status": "completed",
        "deadline": time.time() + 20,
        "poll_interval": 0.05,
        "follow_logs": True,
    }


def test_a_pod_whose_pages_keep_failing_holds_up_no_other() -> None:
    logs = many_pods(3)
    failing = "job-logs-1-00000"
    with misbehaving_server(logs) as server, SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client:
        logs.fails = lambda n: logs.log_requests[n]["pod_name"] == failing
        cursor = LogCursor()
        seen: list[str] = []
        for _ in range(3):
            with contextlib.suppress(SaturnError):
                for line in client.job_logs(JOB, RUN, since=cursor):
                    seen.append(line["content"])
    assert sorted(seen) == ["pod 1", "pod 2"]


@WAYS
def test_at_the_run_s_end_the_wait_reads_on_past_the_request_bound(how: str, monkeypatch, capsys) -> None:
    logs = many_pods(60)
    logs.status = lambda pages: "completed"
    with misbehaving_server(logs) as server:
        assert deliver(how, server, monkeypatch)["status"] in ("success", "completed")
    assert sorted(shown(capsys.readouterr().out)) == sorted(f"pod {number}" for number in range(60))


@WAYS
def test_a_log_longer_than_the_last_reads_says_the_rest_is_in_saturn(how: str, monkeypatch, capsys) -> None:
    logs = many_pods(FINAL_LOG_READS * MAX_LOG_REQUESTS_PER_READ + 40)
    logs.status = lambda pages: "completed"
    with misbehaving_server(logs) as server:
        assert deliver(how, server, monkeypatch)["status"] in ("success", "completed")
    out = capsys.readouterr().out
    assert "the rest is in Saturn" in out
    reads_until_the_end = 2 if how == "sync" else 1  # the sync wait also reads once before its first poll
    assert len(shown(out)) == (FINAL_LOG_READS + reads_until_the_end) * (MAX_LOG_REQUESTS_PER_READ - 1)


def test_a_page_key_too_long_for_a_url_is_not_followed() -> None:
    def respond(seen: Seen) -> Answer:
        if "/history" in seen.path:
            return Answer.json({"pods": [RunLogServer.pod("job-logs-1-aaaaa", "running")]})
        lines = [line_json("job-logs-1-aaaaa", f"a{number}") for number in range(LOG_PAGE_SIZE)]
        return Answer.json({"logs": lines, "next_key": "k" * (MAX_KEY_CHARS + 1)})

    with (
        misbehaving_server(respond) as server,
        SaturnClient(url=server.url, api_token=TOKEN, retry=NO_RETRY) as client,
    ):
        cursor = LogCursor()
        with pytest.raises(SaturnBadResponseError, match="key of 2049 characters"):
            list(client.job_logs(JOB, RUN, since=cursor))
        assert cursor.pods["job-logs-1-aaaaa"].key is None, "the key was not taken"
        assert all(len(request.path) < MAX_KEY_CHARS for request in server.requests)


def test_a_cursor_in_the_older_form_still_reads_on() -> None:
    cursor = LogCursor.from_json({"pods": {"job-logs-1-aaaaa": ["job-logs-1-aaaaa:3", 2]}})
    assert (cursor.pods["job-logs-1-aaaaa"].key, cursor.pods["job-logs-1-aaaaa"].taken) == ("job-logs-1-aaaaa:3", 2)
    assert LogCursor.from_json(json.loads(json.dumps(cursor.to_json()))) == cursor


def test_a_deferred_at_that_is_not_a_time_means_now() -> None:
    for odd in (None, "yesterday", float("nan"), float("inf"), True):
        assert abs(trigger(deferred_at=odd).deferred_at - time.time()) < 5
    assert trigger(deferred_at=12.5).serialize()[1]["deferred_at"] == 12.5


def test_a_slow_log_keeps_the_trigger_s_deadline(monkeypatch, capsys) -> None:
    logs = many_pods(60)

    def slowly(seen: Seen) -> Answer:
        if "/logs" in seen.path:
            time.sleep(0.3)
        return logs(seen)

    with misbehaving_server(slowly) as server:
        connect(server, monkeypatch)
        deadline = time.time() + 1
        event = asyncio.run(first_event(trigger(deadline=deadline))).payload
        late = time.time() - deadline
    assert event["status"] == "timeout" and late < 1.0, f"the event came {late:.1f}s after the deadline"
    assert shown(capsys.readouterr().out), "the lines read before the deadline were shown"
