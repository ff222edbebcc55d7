"""``@task.saturn`` for real: each function runs as a Saturn job in the runner emulator (real processes), under
``dag.test()``, and its return value comes back as XCom."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN, point_saturn_default_at
from tests.dag_files import dag_from_source, returned, states


@pytest.fixture
def runner(emulator_runner: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    """``saturn_default`` points at an emulator that runs job commands for real."""
    point_saturn_default_at(emulator_runner.url, monkeypatch)
    yield emulator_runner


BASIC_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG("saturn_task_basic", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task
    def numbers():
        return [1, 2, 3]

    @task.saturn(instance_size="large", deferrable=DEFERRABLE, keep_job="never", poll_interval=0.1, timeout=60)
    def summarise(values, label):
        import os
        import statistics

        print(f"summarising {len(values)} values")
        return {"label": label, "mean": statistics.mean(values), "home": bool(os.environ.get("HOME"))}

    @task
    def check(summary):
        return f"{summary['label']}={summary['mean']}"

    check(summarise(numbers(), label="\u00fcn\u00efcode"))
"""


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_function_runs_on_saturn_and_its_value_comes_back(
    airflow_db, runner: SaturnEmulator, deferrable: bool, tmp_path, monkeypatch, capsys
) -> None:
    dag = dag_from_source(BASIC_DAG.replace("DEFERRABLE", str(deferrable)), "saturn_task_basic", tmp_path, monkeypatch)
    dag_run = dag.test()
    assert states(dag_run) == {"numbers": "success", "summarise": "success", "check": "success"}
    assert returned(dag_run, "summarise") == {"label": "\u00fcn\u00efcode", "mean": 2, "home": True}
    assert returned(dag_run, "check") == "\u00fcn\u00efcode=2"
    out = capsys.readouterr().out
    assert "summarising 3 values" in out, "the function's prints are in the task log"
    assert "SATURN-FRAME" not in out, "frame lines never show in the task log"
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        assert client.list_jobs() == [], "keep_job='never' deleted the job"


CASES_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

FAST = {"poll_interval": 0.1, "timeout": 60, "deferrable": DEFERRABLE}

with DAG("saturn_task_cases", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task.saturn(**FAST)
    def boom(limit):
        raise ValueError(f"bad input {limit}")

    @task.saturn(keep_job="never", **FAST)
    def exits():
        import sys

        print("giving up")
        sys.exit(3)

    @task.saturn(keep_job="never", **FAST)
    def square(x):
        return x * x

    @task.saturn(multiple_outputs=True, keep_job="never", **FAST)
    def pair():
        return {"a": 1, "b": "two"}

    @task.saturn(keep_job="never", **FAST)
    def look_alike():
        print("SATURN-FRAME v1 " + "0" * 32 + " 0123456789abcdef result 1 1 2 x MQ==")
        return None

    boom(42)
    exits()
    square.expand(x=[1, 2, 3])
    pair()
    look_alike()
"""


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_failures_mapped_tasks_multiple_outputs_and_look_alike_frames(
    airflow_db, runner: SaturnEmulator, deferrable: bool, tmp_path, monkeypatch, capsys
) -> None:
    dag = dag_from_source(CASES_DAG.replace("DEFERRABLE", str(deferrable)), "saturn_task_cases", tmp_path, monkeypatch)
    dag_run = dag.test()
    assert states(dag_run) == {
        "boom": "failed",
        "exits": "failed",
        "square": "success",
        "pair": "success",
        "look_alike": "success",
    }
    out = capsys.readouterr().out
    assert "The function raised ValueError on Saturn: bad input 42" in out
    assert 'raise ValueError(f"bad input {limit}")' in out, "the remote traceback"
    assert "Command exited with code 3" in out and "giving up" in out, "the exit status and the log tail"
    assert [returned(dag_run, "square", map_index=index) for index in range(3)] == [1, 4, 9]
    assert (returned(dag_run, "pair", "a"), returned(dag_run, "pair", "b")) == (1, "two")
    assert returned(dag_run, "look_alike") is None
    with SaturnClient(url=runner.url, api_token=TOKEN) as client:
        jobs = client.list_jobs()
    assert [job["tags"]["airflow_task_id"] for job in jobs] == ["boom"], "a failed run's job stays by default"
    assert jobs[0]["tags"]["airflow_run_id"] == dag_run.run_id
