"""Issue 14, points 7-10: which run a retry takes, a run that shows up late, a run Saturn names badly, and run
statuses the provider does not know. Against the emulator, or a misbehaving server for what it cannot say."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError, SaturnWaitTimeoutError, statuses
from airflow_provider_saturn.client import jobs as client_jobs
from airflow_provider_saturn.client.jobs import SaturnRunNotIdentifiedError
from airflow_provider_saturn.operators import SaturnRunJobOperator
from airflow_provider_saturn.reattach import JOB_RUN_KEY
from tests.conftest import requests_to
from tests.harness import DagRunStarted, DictStore, RecordingTI, TryOf, context_for, run_operator
from tests.misbehaving_server import Answer, Seen, misbehaving_server

FAST: Any = {"poll_interval": 0.05, "timeout": 20, "retries": 1}
AUTOMATIC_RETRY = (2, 1)  # try 2 of a task with retries=1


def run_job(job_id: str, deferrable: bool = False, **kwargs: Any) -> SaturnRunJobOperator:
    return SaturnRunJobOperator(task_id="run", job_id=job_id, deferrable=deferrable, **{**FAST, **kwargs})


def status_of(client: SaturnClient, job: dict[str, Any], run_name: str) -> str:
    return str(client.get_job_run(job["id"], run_name)["status"])


# ------------------------------------------------------------------ 7. no store: another DAG run's run is not ours


def test_without_a_store_a_retry_never_takes_nor_stops_another_dag_runs_run(saturn_connection, client, capsys) -> None:
    """DAG run A's first try failed before starting anything; DAG run B runs the same job meanwhile. A's retry
    (Airflow 2.11: no task state store) cannot tell B's run from one of its own: it starts its own, and its
    timeout stops its own run only."""
    job = client.create_job("shared-job", "sleep 30")
    other_dag_runs = client.start_job(job["id"])
    ti = TryOf(*AUTOMATIC_RETRY)
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(run_job(job["id"], timeout=0.5), {**context_for(ti), "dag_run": DagRunStarted()})
    assert ti.pushed["run_name"] != other_dag_runs["run_name"], "B's run was taken as A's"
    assert status_of(client, job, other_dag_runs["run_name"]) in ("pending", "running"), "B's run was stopped"
    assert status_of(client, job, ti.pushed["run_name"]) in ("stopping", "stopped"), "its own run is stopped"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2
    assert "no task state store" in capsys.readouterr().out


def test_without_a_store_a_completed_run_of_this_dag_run_is_not_a_retrys_result(saturn_connection, client) -> None:
    job = client.create_job("quick", "echo quick")
    someone_elses = client.start_job(job["id"])
    deadline = time.monotonic() + 10
    while status_of(client, job, someone_elses["run_name"]) != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    result = run_operator(run_job(job["id"]), {**context_for(TryOf(*AUTOMATIC_RETRY)), "dag_run": DagRunStarted()})
    assert result["run_name"] != someone_elses["run_name"] and result["status"] == "completed"


# ------------------------------------------------------------------ 8. a run that shows up after identification


@pytest.fixture
def quick_identification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_jobs, "RUN_IDENTIFY_SECONDS", 0.3)
    defaults = client_jobs.JobOperations.start_job.__kwdefaults__ or {}
    monkeypatch.setattr(client_jobs.JobOperations.start_job, "__kwdefaults__", {**defaults, "identify_within": 0.3})


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_run_that_shows_up_late_is_followed_by_the_retry(
    saturn_connection, client, quick_identification, deferrable: bool
) -> None:
    saturn_connection.configure(run_visibility_delay=1.0)
    job = client.create_job("late-run", "sleep 1; echo finished")
    store = DictStore()
    with pytest.raises(SaturnRunNotIdentifiedError) as caught:
        run_operator(run_job(job["id"], deferrable), {**context_for(TryOf(1, 1)), "task_state_store": store})
    assert "retry" in str(caught.value)
    assert store.get(JOB_RUN_KEY), "the start was recorded before identification ended"
    time.sleep(1.0)  # the run shows up
    retry = {**context_for(TryOf(*AUTOMATIC_RETRY)), "task_state_store": store}
    result = run_operator(run_job(job["id"], deferrable), retry)
    (only,) = client.list_job_runs(job["id"])
    assert (result["run_name"], result["status"]) == (only["run_name"], "completed")
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 1, "no second run"
    assert store.get(JOB_RUN_KEY)["run_name"] == only["run_name"]


def test_a_late_run_the_retry_found_is_its_own_and_is_stopped_on_timeout(
    saturn_connection, client, quick_identification
) -> None:
    saturn_connection.configure(run_visibility_delay=0.8)
    job = client.create_job("late-slow", "sleep 30")
    store = DictStore()
    with pytest.raises(SaturnRunNotIdentifiedError):
        run_operator(run_job(job["id"]), {**context_for(TryOf(1, 1)), "task_state_store": store})
    time.sleep(0.8)
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(
            run_job(job["id"], timeout=0.3), {**context_for(TryOf(*AUTOMATIC_RETRY)), "task_state_store": store}
        )
    (only,) = client.list_job_runs(job["id"])
    assert only["status"] in ("stopping", "stopped")


def test_a_run_that_never_shows_up_leaves_the_retry_free_to_start_one(
    saturn_connection, client, quick_identification
) -> None:
    saturn_connection.configure(run_visibility_delay=30)
    job = client.create_job("never-seen", "echo hi")
    store = DictStore()
    with pytest.raises(SaturnRunNotIdentifiedError):
        run_operator(run_job(job["id"]), {**context_for(TryOf(1, 1)), "task_state_store": store})
    saturn_connection.configure(run_visibility_delay=0)
    with saturn_connection.state.lock:
        saturn_connection.state.jobs.get(job["id"]).runs.clear()  # Saturn forgot it (a deleted Kubernetes job)
    retry = {**context_for(TryOf(*AUTOMATIC_RETRY)), "task_state_store": store}
    assert run_operator(run_job(job["id"]), retry)["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2


def test_with_several_runs_new_since_the_recorded_start_none_is_taken_nor_stopped(
    saturn_connection, client, quick_identification, capsys
) -> None:
    saturn_connection.configure(run_visibility_delay=0.8)
    job = client.create_job("crowded", "sleep 30")
    store = DictStore()
    with pytest.raises(SaturnRunNotIdentifiedError):
        run_operator(run_job(job["id"]), {**context_for(TryOf(1, 1)), "task_state_store": store})
    saturn_connection.configure(run_visibility_delay=0)
    someone_elses = client.start_job(job["id"])
    time.sleep(0.8)
    retry = {**context_for(TryOf(*AUTOMATIC_RETRY)), "task_state_store": store}
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(run_job(job["id"], timeout=0.3), retry)
    assert "none is taken" in capsys.readouterr().out
    statuses_now = {run["run_name"]: run["status"] for run in client.list_job_runs(job["id"])}
    assert len(statuses_now) == 3
    retrys_own = store.get(JOB_RUN_KEY)["run_name"]
    assert statuses_now.pop(retrys_own) in ("stopping", "stopped")
    assert set(statuses_now.values()) <= {"pending", "running"}, "neither earlier run was stopped"
    assert someone_elses["run_name"] in statuses_now


def test_without_a_store_a_run_not_identified_is_said_to_be_left_unfollowed(
    saturn_connection, client, quick_identification
) -> None:
    saturn_connection.configure(run_visibility_delay=1.0)
    job = client.create_job("late-no-store", "echo hi")
    with pytest.raises(SaturnRunNotIdentifiedError, match=r"no task state store.*not followed"):
        run_operator(run_job(job["id"]), context_for(TryOf(1, 1)))


# ------------------------------------------------------------------ 9. a run name that cannot go into a URL

JOB_ID = "f" * 32
BAD_NAME = "a/b"


class FakeSaturnJobs:
    """Just enough of Saturn's jobs API for one job whose next start makes a run named ``next_name``."""

    def __init__(self, next_names: list[str], others_running: list[str]) -> None:
        self.next_names = list(next_names)
        self.runs = [self.summary(name, "running") for name in others_running]
        self.lock = threading.Lock()

    @staticmethod
    def summary(name: str, status: str) -> dict[str, Any]:
        return {"name": name, "status": status, "started_at": "2026-01-01T00:00:00Z", "conditions": []}

    def respond(self, seen: Seen) -> Answer:
        job = {"id": JOB_ID, "name": "job", "status": "running", "last_deploy": "2026-01-01T00:00:00Z"}
        with self.lock:
            path = seen.path.split("?")[0]
            if seen.method == "GET" and path == f"/api/jobs/{JOB_ID}/runtimesummary":
                return Answer.json({"job_summaries": list(self.runs), "next_key": None})
            if seen.method == "POST" and path == f"/api/jobs/{JOB_ID}/start":
                self.runs.append(self.summary(self.next_names.pop(0), "running"))
                return Answer.json(job)
            if seen.method == "POST" and path == f"/api/jobs/{JOB_ID}/stop":
                self.runs = [{**run, "status": "stopped"} for run in self.runs]
                return Answer.json({**job, "status": "stopped"})
            if seen.method == "POST" and path.startswith(f"/api/jobs/{JOB_ID}/stop/"):
                name = path.rsplit("/", 1)[1]
                self.runs = [{**run, "status": "stopped"} if run["name"] == name else run for run in self.runs]
                return Answer.json(job)
            if seen.method == "GET" and path == f"/api/jobs/{JOB_ID}/history":
                return Answer.json({"pods": []})
        return Answer.json({"message": "not here"}, status=404)


@pytest.fixture
def fake_saturn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def serve(next_names: list[str], others_running: list[str] = ()) -> FakeSaturnJobs:  # type: ignore[assignment]
        fake = FakeSaturnJobs(next_names, list(others_running))
        server = stack.enter(fake.respond)
        connection = {"conn_type": "saturn", "host": server.url, "password": "bad-name-token"}
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
        fake.server = server  # type: ignore[attr-defined]
        return fake

    class Stack:
        def __init__(self) -> None:
            self.contexts: list[Any] = []

        def enter(self, respond: Any) -> Any:
            context = misbehaving_server(respond)
            self.contexts.append(context)
            return context.__enter__()

    stack = Stack()
    try:
        yield serve
    finally:
        for context in stack.contexts:
            context.__exit__(None, None, None)


def posts(fake: Any, suffix: str) -> int:
    return sum(1 for seen in fake.server.requests if seen.method == "POST" and seen.path.endswith(suffix))


def test_a_run_named_with_a_slash_is_named_stopped_and_not_recorded(fake_saturn) -> None:
    fake = fake_saturn([BAD_NAME, "job-ok-0002"])
    store = DictStore()
    with pytest.raises(client_jobs.SaturnUnusableRunError) as caught:
        run_operator(run_job(JOB_ID), {**context_for(TryOf(1, 1)), "task_state_store": store})
    message = str(caught.value)
    assert "Nothing was sent" not in message
    assert repr(BAD_NAME) in message and "started" in message and "stopped" in message
    assert posts(fake, f"/api/jobs/{JOB_ID}/stop") == 1, "the job had no other run going: stopped"
    assert (store.get(JOB_RUN_KEY) or {}).get("run_name") != BAD_NAME, "the unusable name was recorded"
    retry = {**context_for(TryOf(*AUTOMATIC_RETRY)), "task_state_store": store}
    operator = run_job(JOB_ID, fetch_logs=False, timeout=0.3)
    with pytest.raises(SaturnWaitTimeoutError):  # the retry starts afresh and follows its (usable) run
        run_operator(operator, retry)
    assert posts(fake, "/start") == 2
    assert posts(fake, "/stop/job-ok-0002") == 1, "its own run, stopped on timeout by its name"


def test_a_badly_named_run_is_left_alone_when_the_job_has_other_runs_going(fake_saturn) -> None:
    fake = fake_saturn([BAD_NAME], others_running=["someone-elses-run"])
    with pytest.raises(client_jobs.SaturnUnusableRunError) as caught:
        run_operator(run_job(JOB_ID), {**context_for(TryOf(1, 1)), "task_state_store": DictStore()})
    message = str(caught.value)
    assert "left running" in message and "1 other run" in message
    assert not [seen for seen in fake.server.requests if "/stop" in seen.path], "nothing is stopped"
    assert fake.runs[0]["status"] == "running"


# ------------------------------------------------------------------ 10. run statuses Saturn may spell otherwise


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", "success"),
        ("Completed", "success"),
        (" COMPLETED ", "success"),
        ("succeeded", "success"),
        ("Complete", "success"),
        ("failed", "failure"),
        ("Failed", "failure"),
        ("ERROR", "failure"),
        ("Running", "wait"),
        ("Pending", "wait"),
    ],
)
def test_case_and_clear_synonyms_of_run_statuses(status: str, outcome: str) -> None:
    assert statuses.decide(status, "completed", strict=True).outcome == outcome


def test_an_unknown_status_fails_after_a_bounded_grace_naming_it() -> None:
    now = [0.0]
    watch = statuses.StatusWatch("completed", strict=True, clock=lambda: now[0])
    assert watch.judge("exploded").outcome == "wait"
    now[0] = statuses.UNKNOWN_STATUS_GRACE - 1
    assert watch.judge("exploded").outcome == "wait"
    assert watch.judge("running").outcome == "wait"  # a known status starts the grace anew
    now[0] += statuses.UNKNOWN_STATUS_GRACE - 1
    assert watch.judge("exploded").outcome == "wait"
    now[0] += statuses.UNKNOWN_STATUS_GRACE
    decision = watch.judge("exploded")
    assert decision.outcome == "failure"
    assert "'exploded'" in decision.reason and f"{statuses.UNKNOWN_STATUS_GRACE:g}" in decision.reason
    assert statuses.decide("exploded", "completed", strict=True).outcome == "wait", "one read alone never fails"


def report_status(emulator: Any, job: dict[str, Any], status: str) -> None:
    with emulator.state.lock:
        for run in emulator.state.jobs.get(job["id"]).runs:
            emulator.state.jobs.report_status(job["id"], run.name, status)


def run_while_saturn_reports(emulator: Any, job: dict[str, Any], operator: Any, reported: str) -> Any:
    """Run the operator; once its run has started, Saturn reports ``reported`` for it. Returns what the run
    returned or the error it raised, and how long it took."""
    ti = RecordingTI()
    errors: list[BaseException] = []

    def report_once_started() -> None:
        deadline = time.monotonic() + 10
        while "run_name" not in ti.pushed and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            report_status(emulator, job, reported)
        except BaseException as error:  # reported below
            errors.append(error)

    reporter = threading.Thread(target=report_once_started, daemon=True)
    reporter.start()
    started = time.monotonic()
    try:
        outcome: Any = run_operator(operator, context_for(ti))
    except Exception as error:
        outcome = error
    reporter.join(10)
    assert not errors
    return outcome, time.monotonic() - started


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
@pytest.mark.parametrize(("reported", "succeeds"), [("Completed", True), ("succeeded", True), ("failed", False)])
def test_a_run_saturn_reports_in_other_words_ends_the_wait(
    saturn_connection, client, deferrable: bool, reported: str, succeeds: bool
) -> None:
    job = client.create_job("words", "sleep 30")
    outcome, took = run_while_saturn_reports(
        saturn_connection, job, run_job(job["id"], deferrable, fetch_logs=False), reported
    )
    if succeeds:
        assert isinstance(outcome, dict) and outcome["status"] == "completed"
    else:
        assert isinstance(outcome, SaturnResourceError) and "'error'" in str(outcome)
    assert took < 10, "the wait ended when Saturn said so, not at its deadline"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_truly_unknown_run_status_fails_after_the_grace(
    saturn_connection, client, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    monkeypatch.setattr(statuses, "UNKNOWN_STATUS_GRACE", 0.5)
    job = client.create_job("mystery", "sleep 30")
    outcome, took = run_while_saturn_reports(
        saturn_connection, job, run_job(job["id"], deferrable, fetch_logs=False), "Exploded"
    )
    assert isinstance(outcome, SaturnResourceError), outcome
    assert "'exploded'" in str(outcome) and "0.5" in str(outcome)
    assert took < 10
