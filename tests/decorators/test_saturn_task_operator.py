"""``@task.saturn``'s operator, try by try, against the runner emulator: nothing sent for a payload over its
bound, a retry after a crash re-attaches to its run and still gets the value, a clear runs the function again, a
kill stops the run, someone else's job of the same name is left alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnWaitTimeoutError
from airflow_provider_saturn.compat import AIRFLOW_V_3
from airflow_provider_saturn.decorators.job_naming import function_job_name
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.remote import SaturnFunctionError, SaturnPayloadTooLargeError
from tests.conftest import TOKEN, point_saturn_default_at, requests_to
from tests.harness import DictStore, TryOf, prepare_thread, run_operator

if AIRFLOW_V_3:
    from airflow.sdk import DAG, task
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

RUN_ID = "manual__2026-12-06T10:00:00+00:00"
AUTOMATIC_RETRY = (2, 1)  # try 2 of a task with retries=1
AFTER_A_CLEAR = (3, 3)  # the first try after a clear: max_tries reset to the try before it plus retries


class TaskInstanceTry(TryOf):
    """A try of one task instance of DAG ``d``, run ``RUN_ID``."""

    def __init__(self, task_id: str, try_number: int = 1, max_tries: int | None = 1) -> None:
        super().__init__(try_number, max_tries)
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", task_id, RUN_ID, -1


def context_of(task_id: str, store: DictStore | None, attempt: tuple[int, int] = (1, 1)) -> dict[str, Any]:
    ti = TaskInstanceTry(task_id, *attempt)
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": RUN_ID}
    if store is not None:
        context["task_state_store"] = store
    return context


def one_task(function: Any, args: tuple[Any, ...] = (), **settings: Any) -> Any:
    """The operator ``@task.saturn(**settings)`` makes of ``function`` called with ``args``, in a DAG."""
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        task.saturn(**{"retries": 1, "poll_interval": 0.05, "timeout": 60, **settings})(function)(*args)
    (operator,) = dag.tasks
    return operator


@pytest.fixture
def runner(emulator_runner: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    point_saturn_default_at(emulator_runner.url, monkeypatch)
    yield emulator_runner


def add_one(x):  # shipped as source: self-contained
    import time

    time.sleep(1.5)
    return x + 1


def test_a_payload_over_its_bound_fails_before_any_request(runner: SaturnEmulator) -> None:
    operator = one_task(add_one, ("x" * 600_000,))
    with pytest.raises(SaturnPayloadTooLargeError, match="over the payload bound of 524288 bytes"):
        run_operator(operator, context_of(operator.task_id, DictStore()))
    assert runner.config.stats.requests == 0


def test_a_lambda_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(SaturnFunctionError, match="self-contained"), DAG("d", start_date=datetime(2026, 1, 1)):
        task.saturn(lambda: 1)()


def test_a_retry_after_a_crash_re_attaches_and_still_gets_the_value(runner: SaturnEmulator) -> None:
    store = DictStore()
    first = one_task(add_one, (41,), stop_on_failure=False, timeout=0.3)
    with pytest.raises(SaturnWaitTimeoutError):  # the try ends while its run goes on (as if its worker died)
        run_operator(first, context_of(first.task_id, store))
    retry = one_task(add_one, (41,))
    assert run_operator(retry, context_of(retry.task_id, store, AUTOMATIC_RETRY)) == 42
    assert requests_to(runner, "POST /api/jobs/{id}/start") == 1, "the retry followed the first try's run"
    assert requests_to(runner, "POST /api/jobs") == 1, "one job"


def test_a_cleared_task_runs_the_function_again(runner: SaturnEmulator) -> None:
    store = DictStore()
    operator = one_task(add_one, (1,), keep_job="always")
    assert run_operator(operator, context_of(operator.task_id, store)) == 2
    again = one_task(add_one, (1,), keep_job="always")
    assert run_operator(again, context_of(again.task_id, store, AFTER_A_CLEAR)) == 2
    assert requests_to(runner, "POST /api/jobs/{id}/start") == 2, "a clear runs it again"
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        (job,) = client.list_jobs()  # made anew for the second run, so that it holds only the task's settings
        assert [run["status"] for run in client.list_job_runs(job["id"])] == ["completed"]
    assert requests_to(runner, "DELETE /api/jobs/{id}") == 1


def sleeps():  # shipped as source: self-contained
    import time

    time.sleep(60)


def test_a_kill_stops_the_run(runner: SaturnEmulator) -> None:
    operator = one_task(sleeps)
    context = context_of(operator.task_id, DictStore())
    errors: list[BaseException] = []

    def run() -> None:
        prepare_thread()
        try:
            run_operator(operator, context)
        except BaseException as error:  # the wait ends with the stopped run
            errors.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while "run_name" not in context["ti"].pushed and time.monotonic() < deadline:
        time.sleep(0.05)
    operator.on_kill()
    worker.join(20)
    assert not worker.is_alive()
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        (job,) = client.list_jobs()
        (only,) = client.list_job_runs(job["id"])
    assert only["status"] in ("stopping", "stopped")
    assert errors, "the task failed"


def test_someone_elses_job_of_the_same_name_is_left_alone(runner: SaturnEmulator) -> None:
    operator = one_task(add_one, (1,))
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        theirs = client.create_job(function_job_name("d", operator.task_id, RUN_ID, -1), "echo mine")
        with pytest.raises(ValueError, match="is not this task instance's"):
            run_operator(operator, context_of(operator.task_id, DictStore()))
        assert client.get_job(theirs["id"])["command"] == "echo mine"
    assert requests_to(runner, "POST /api/jobs/{id}/start") == 0
