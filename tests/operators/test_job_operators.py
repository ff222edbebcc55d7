"""Saturn Jobs as tasks: a run that completes or fails with its log, in sync and deferrable modes; runs told
apart; a killed task stops its own run only; a retried task re-attaches; jobs as code."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnResourceError, SaturnWaitTimeoutError
from airflow_provider_saturn.operators import (
    SaturnCreateJobOperator,
    SaturnDeleteJobOperator,
    SaturnRunJobOperator,
)
from airflow_provider_saturn.reattach import JOB_RUN_KEY
from tests.conftest import requests_to
from tests.harness import (
    DagRunStarted,
    DictStore,
    RecordingTI,
    TryOf,
    context_for,
    prepare_thread,
    run_operator,
)

FAST: Any = {"poll_interval": 0.05, "timeout": 20}


def run_job(job: dict[str, Any], deferrable: bool, **kwargs: Any) -> SaturnRunJobOperator:
    return SaturnRunJobOperator(task_id="run", job_id=job["id"], deferrable=deferrable, **{**FAST, **kwargs})


LOG_LINE = re.compile(r"\[(job-[a-z0-9-]+)\] (.*?)(?:\s+\[[\w.]+\]\s+loc=\S+)?\s*$")


def run_log_contents(captured: str) -> list[str]:
    """The run's lines as the task log shows them (``[<pod>] <content>``), in order."""
    return [match.group(2) for line in captured.splitlines() if (match := LOG_LINE.search(line))]


@pytest.fixture
def job(saturn_connection, client: SaturnClient) -> dict[str, Any]:
    return client.create_job("report", "echo starting; seq 3; echo done")


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_run_that_completes_with_its_log_in_the_task_log(job, client, capsys, deferrable: bool) -> None:
    ti = RecordingTI()
    run = run_operator(run_job(job, deferrable), context_for(ti))
    assert run["status"] == "completed"
    assert (ti.pushed["job_id"], ti.pushed["run_name"]) == (job["id"], run["run_name"])
    assert ti.pushed["saturn_url"].endswith(f"/dash/resources/job/{job['id']}")
    contents = run_log_contents(capsys.readouterr().out)
    assert contents == ["starting", "1", "2", "3", "done"], "every line once, in order"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_failing_run_fails_the_task_with_saturns_message_and_its_log_tail(
    saturn_connection, client, deferrable: bool
) -> None:
    job = client.create_job("breaks", "echo loading; echo KeyError: 'customer_id'; exit 3")
    with pytest.raises(SaturnResourceError) as caught:
        run_operator(run_job(job, deferrable))
    message = str(caught.value)
    assert "error" in message and "3" in message
    assert "Last 2 lines of its log:" in message
    assert message.rstrip().endswith("KeyError: 'customer_id'")


def test_logs_longer_than_a_page_arrive_complete_in_order_once(saturn_connection, client, capsys) -> None:
    job = client.create_job("long-log", "seq 2600; sleep 0.5; seq 1200")
    run_operator(run_job(job, deferrable=True))
    contents = run_log_contents(capsys.readouterr().out)
    assert contents == [str(number) for number in range(1, 2601)] + [str(number) for number in range(1, 1201)]
    assert requests_to(saturn_connection, "GET /api/jobs/{id}/logs") >= 4, "1000 lines a page"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_concurrent_runs_of_one_job_each_follow_their_own(saturn_connection, client, deferrable: bool) -> None:
    job = client.create_job("twice", "sleep 1")
    results: list[dict[str, Any]] = []

    def run() -> None:
        prepare_thread()
        results.append(run_operator(run_job(job, deferrable=deferrable)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({result["run_name"] for result in results}) == 2
    assert all(result["status"] == "completed" for result in results)
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2


def test_a_killed_task_stops_its_own_run_only(saturn_connection, client) -> None:
    job = client.create_job("long", "sleep 30")
    other = client.start_job(job["id"])
    operator = run_job(job, deferrable=False)
    ti = RecordingTI()
    failure: list[BaseException] = []

    def execute() -> None:
        prepare_thread()
        try:
            operator.execute(context_for(ti))
        except BaseException as error:  # the kill makes the wait end one way or another
            failure.append(error)

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "run_name" not in ti.pushed and time.monotonic() < deadline:
        time.sleep(0.05)
    operator.on_kill()
    mine = client.get_job_run(job["id"], ti.pushed["run_name"])
    assert mine["status"] in ("stopping", "stopped")
    assert client.get_job_run(job["id"], other["run_name"])["status"] in ("pending", "running")


def test_a_timed_out_run_is_stopped_unless_told_not_to(saturn_connection, client) -> None:
    job = client.create_job("slow", "sleep 30")
    ti = RecordingTI()
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(run_job(job, deferrable=False, timeout=0.5), context_for(ti))
    assert client.get_job_run(job["id"], ti.pushed["run_name"])["status"] in ("stopping", "stopped")
    kept = RecordingTI()
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(run_job(job, deferrable=False, timeout=0.5, stop_on_failure=False), context_for(kept))
    assert client.get_job_run(job["id"], kept.pushed["run_name"])["status"] in ("pending", "running")


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_retry_re_attaches_to_the_run_its_earlier_try_started(saturn_connection, client, deferrable) -> None:
    job = client.create_job("resumable", "sleep 1.5; echo finished")
    store = DictStore()
    first_try = {**context_for(RecordingTI()), "task_state_store": store}
    with pytest.raises(SaturnWaitTimeoutError):  # the first try dies while the run goes on
        run_operator(run_job(job, deferrable, timeout=0.3, stop_on_failure=False), first_try)
    started = store.get(JOB_RUN_KEY)
    assert started and started["job_id"] == job["id"]
    retry = {**context_for(RecordingTI()), "task_state_store": store}
    result = run_operator(run_job(job, deferrable), retry)
    assert result["run_name"] == started["run_name"] and result["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 1, "no second run"


def test_a_retry_after_a_failed_run_starts_afresh(saturn_connection, client) -> None:
    job = client.create_job("flaky-once", "exit 1")
    store = DictStore()
    with pytest.raises(SaturnResourceError):
        run_operator(run_job(job, False), {**context_for(RecordingTI()), "task_state_store": store})
    client.update_job(job["id"], command="echo fixed")
    result = run_operator(run_job(job, False), {**context_for(RecordingTI()), "task_state_store": store})
    assert result["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2


def test_without_a_store_a_retry_starts_its_own_run_and_leaves_the_one_going(saturn_connection, client, capsys) -> None:
    """Airflow 2.11: no task state store; a run going in Saturn may be another DAG run's, so it is not taken."""
    job = client.create_job("no-store", "sleep 1")
    earlier = client.start_job(job["id"])
    result = run_operator(run_job(job, False), {**context_for(TryOf(2)), "dag_run": DagRunStarted()})
    assert result["run_name"] != earlier["run_name"] and result["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2
    assert earlier["run_name"] in capsys.readouterr().out, "the run left alone is named in the log"


# With retries=1: try 1 of max 1 is the first, try 2 of max 1 Airflow's retry, try 3 of max 3 the first after a
# user cleared the task following try 2.
FIRST_TRY, AUTOMATIC_RETRY, FIRST_AFTER_CLEAR = (1, 1), (2, 1), (3, 3)


def earlier_completed_run(client: SaturnClient, job: dict[str, Any], store: DictStore | None) -> str:
    """A first try that started a run and gave up on it; the run then completes."""
    context = {**context_for(TryOf(*FIRST_TRY)), **({"task_state_store": store} if store is not None else {})}
    with pytest.raises(SaturnWaitTimeoutError):
        run_operator(run_job(job, False, retries=1, timeout=0.2, stop_on_failure=False), context)
    (run,) = client.list_job_runs(job["id"])
    deadline = time.monotonic() + 20
    while client.get_job_run(job["id"], run["run_name"])["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    return str(run["run_name"])


@pytest.mark.parametrize("with_store", [True, False], ids=["task-state-store", "no-store"])
@pytest.mark.parametrize(
    ("this_try", "runs_again"), [(AUTOMATIC_RETRY, False), (FIRST_AFTER_CLEAR, True)], ids=["retry", "after-clear"]
)
def test_a_completed_run_is_a_retrys_result_but_a_cleared_task_runs_again(
    saturn_connection, client, with_store: bool, this_try: tuple[int, int], runs_again: bool
) -> None:
    """Without a store nothing tells the earlier try's run from another's: every later try runs again."""
    runs_again = runs_again or not with_store
    job = client.create_job("nightly", "sleep 0.5; echo finished")
    store = DictStore() if with_store else None
    earlier = earlier_completed_run(client, job, store)
    context = {**context_for(TryOf(*this_try)), "dag_run": DagRunStarted()}
    if store is not None:
        context["task_state_store"] = store
    result = run_operator(run_job(job, False, retries=1), context)
    assert result["status"] == "completed"
    assert (result["run_name"] != earlier) is runs_again
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == (2 if runs_again else 1)


def test_after_a_clear_a_run_still_going_is_followed_not_doubled(saturn_connection, client) -> None:
    job = client.create_job("long-report", "sleep 1.5; echo finished")
    store = DictStore()
    with pytest.raises(SaturnWaitTimeoutError):  # a worker crash, then the user clears the failed task
        run_operator(
            run_job(job, False, retries=1, timeout=0.2, stop_on_failure=False),
            {**context_for(TryOf(*FIRST_TRY)), "task_state_store": store},
        )
    context = {**context_for(TryOf(*FIRST_AFTER_CLEAR)), "task_state_store": store}
    result = run_operator(run_job(job, False, retries=1), context)
    assert result["run_name"] == store.get(JOB_RUN_KEY)["run_name"] and result["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 1


def test_run_by_job_name(saturn_connection, client, job) -> None:
    operator = SaturnRunJobOperator(task_id="run", job_name="report", deferrable=False, **FAST)
    assert run_operator(operator)["job_id"] == job["id"]
    with pytest.raises(ValueError, match="exactly one of job_id and job_name"):
        SaturnRunJobOperator(task_id="both", job_id="x", job_name="y")
    with pytest.raises(ValueError, match="Saturn has no job named 'nope'"):
        run_operator(SaturnRunJobOperator(task_id="missing", job_name="nope", deferrable=False, **FAST))


def test_create_job_is_idempotent(saturn_connection, client) -> None:
    def create(if_exists: str, command: str = "echo one") -> dict[str, Any]:
        operator = SaturnCreateJobOperator(
            task_id="create", name="as-code", command=command, if_exists=if_exists, instance_size="large"
        )
        return run_operator(operator)

    first = create("fail")
    assert create("reuse", "echo two")["id"] == first["id"]
    assert client.get_job(first["id"])["command"] == "echo one"
    assert create("update", "echo two")["id"] == first["id"]
    assert client.get_job(first["id"])["command"] == "echo two"
    with pytest.raises(ValueError, match="already exists"):
        create("fail")
    assert len(client.list_jobs()) == 1


def test_retries_stay_airflows_and_job_retries_are_saturns(saturn_connection, client) -> None:
    """``retries`` (also from a DAG's ``default_args``) is the task's; Saturn's setting is ``job_retries``."""
    from_defaults = SaturnCreateJobOperator(
        task_id="create", name="airflow-retries", command="echo one", default_args={"retries": 3}
    )
    assert from_defaults.retries == 3
    assert client.get_job(run_operator(from_defaults)["id"])["retries"] == 0
    saturn_retries = SaturnCreateJobOperator(
        task_id="create", name="saturn-retries", command="echo one", job_retries=2, retries=1
    )
    assert saturn_retries.retries == 1
    assert client.get_job(run_operator(saturn_retries)["id"])["retries"] == 2


def test_no_operator_argument_shadows_one_of_airflows() -> None:
    """An argument named like one of BaseOperator's would take its value from ``default_args`` and hide Airflow's
    own (as Saturn's ``retries`` once did)."""
    import inspect

    from airflow_provider_saturn import operators, sensors
    from airflow_provider_saturn.compat import BaseOperator

    airflows = set(inspect.signature(BaseOperator.__init__).parameters) - {"self", "kwargs", "args"}
    classes = [
        value
        for module in (operators, sensors)
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, BaseOperator)
    ]
    assert len(classes) >= 15
    for cls in classes:
        own = {
            name
            for klass in cls.__mro__
            if klass.__module__.startswith("airflow_provider_saturn") and "__init__" in vars(klass)
            for name in inspect.signature(vars(klass)["__init__"]).parameters
        }
        assert not own & airflows, f"{cls.__name__} shadows {sorted(own & airflows)}"


def test_delete_job(saturn_connection, client, job) -> None:
    run_operator(SaturnDeleteJobOperator(task_id="delete", job_id=job["id"]))
    assert client.list_jobs() == []
    run_operator(SaturnDeleteJobOperator(task_id="again", job_id=job["id"], ignore_missing=True))


def test_saturn_times_are_to_the_second_and_the_clocks_differ() -> None:
    """A run Saturn says began at 12:00:00 began after a DAG run that Airflow says began at 12:00:00.9."""
    from datetime import UTC, datetime

    from airflow_provider_saturn.reattach import GOING_OR_DONE, runs_since

    dag_run_started = datetime(2026, 1, 1, 12, 0, 0, 900_000, tzinfo=UTC)
    runs = [{"status": "running", "started_at": "2026-01-01T12:00:00+00:00"}]
    assert runs_since(runs, dag_run_started, GOING_OR_DONE) == runs
    old = [{"status": "running", "started_at": "2026-01-01T11:59:00+00:00"}]
    assert runs_since(old, dag_run_started, GOING_OR_DONE) == []


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_run_printing_an_environment_value_of_its_job_shows_it_masked(
    saturn_connection, client, capsys, monkeypatch, deferrable: bool
) -> None:
    secret = f"pw-{'sync' if not deferrable else 'deferred'}-{time.time_ns()}"  # new to the masker in this test
    job = client.create_job("prints-secret", f"echo connecting with {secret}; echo done")
    client.update_job(job["id"], environment_variables={"DB_PASSWORD": secret})
    if deferrable:  # the trigger masks on its own, as it runs in another process (the triggerer) for real
        monkeypatch.setattr(SaturnRunJobOperator, "mask_job_secrets", lambda self, *_: None)
    run_operator(run_job(job, deferrable))
    out = capsys.readouterr().out
    assert secret not in out
    assert "connecting with ***" in run_log_contents(out)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_pending_runs_log_is_not_read(saturn_connection, client, capsys, deferrable: bool) -> None:
    """No pod of a pending run has started (on Saturn, scheduling one can take minutes): no log read costs two
    requests a poll meanwhile; its lines still all arrive once it runs."""
    saturn_connection.configure(transition_seconds=1.0)  # each run stays pending this long
    job = client.create_job("slow-to-schedule", "echo first; echo second; sleep 0.1")
    run_operator(run_job(job, deferrable))
    polls = requests_to(saturn_connection, "GET /api/jobs/{id}/runtimesummary")
    history_reads = requests_to(saturn_connection, "GET /api/jobs/{id}/history")
    assert polls >= 10, f"only {polls} polls: the run was not seen pending"
    assert history_reads <= 5, f"{history_reads} log reads over {polls} polls of a run mostly pending"
    assert run_log_contents(capsys.readouterr().out) == ["first", "second"]


def test_a_job_found_by_name_is_not_read_again_to_mask_its_values(saturn_connection, client, capsys) -> None:
    secret = f"pw-by-name-{time.time_ns()}"  # new to the masker in this test
    job = client.create_job("named-secret", f"echo connecting with {secret}")
    client.update_job(job["id"], environment_variables={"DB_PASSWORD": secret})
    run_operator(SaturnRunJobOperator(task_id="run", job_name="named-secret", deferrable=False, **FAST))
    assert "connecting with ***" in run_log_contents(capsys.readouterr().out)
    assert requests_to(saturn_connection, "GET /api/jobs/{id}") == 0, "the job the name lookup read serves"
