"""``@task.saturn_dask`` for real under ``dag.test()``: the function computes on the emulator's real Dask cluster
through the client it is given, and its value is the task's XCom; ``start=True``; the client always closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import FAST_RETRY, TOKEN, point_saturn_default_at
from tests.dag_files import dag_from_source, returned, states


@pytest.fixture
def saturn(emulator_dask: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnClient]:
    """``saturn_default`` points at the real-Dask emulator; a client of it for the test's own set-up."""
    point_saturn_default_at(emulator_dask.url, monkeypatch)
    with SaturnClient(url=emulator_dask.url, api_token=TOKEN, retry=FAST_RETRY) as client:
        yield client


def _project_with_cluster(client: SaturnClient, name: str, *, running: bool) -> tuple[str, str]:
    project = client.create_project(name)
    cluster = client.create_dask_cluster(project["id"], n_workers=1, nthreads=1)
    if running:
        client.start_dask_cluster(cluster["id"])
        deadline = time.monotonic() + 60
        while client.get_dask_cluster(cluster["id"])["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return project["id"], cluster["id"]


DAG_SOURCE = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG("saturn_dask_task", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task
    def size():
        return 1000

    @task.saturn_dask(project_id="PROJECT", START_ARGUMENT poll_interval=0.1, timeout=60, connect_timeout=20)
    def total(n, dask_client):
        import dask.array as da

        print(f"computing on {dask_client.scheduler.address}")
        return {"total": int(da.arange(n, chunks=100).sum().compute()), "workers": len(dask_client.nthreads())}

    @task
    def check(result):
        assert result["total"] == 499500, result
        return "checked"

    check(total(size()))
"""


def _dag(project_id: str, tmp_path, monkeypatch, *, start: bool = False) -> Any:
    source = DAG_SOURCE.replace("PROJECT", project_id).replace("START_ARGUMENT", f"start={start},")
    return dag_from_source(source, "saturn_dask_task", tmp_path, monkeypatch)


def test_the_function_computes_on_the_running_cluster(airflow_db, saturn, tmp_path, monkeypatch, capsys):
    project_id, _ = _project_with_cluster(saturn, "dask-task-running", running=True)
    dag_run = _dag(project_id, tmp_path, monkeypatch).test()
    assert states(dag_run) == {"size": "success", "total": "success", "check": "success"}
    assert returned(dag_run, "total") == {"total": 499500, "workers": 1}
    assert "computing on tls://127.0.0.1:" in capsys.readouterr().out


def test_start_true_starts_the_cluster_first(airflow_db, saturn, emulator_dask, tmp_path, monkeypatch):
    project_id, cluster_id = _project_with_cluster(saturn, "dask-task-start", running=False)
    dag_run = _dag(project_id, tmp_path, monkeypatch, start=True).test()
    assert states(dag_run)["total"] == "success"
    assert returned(dag_run, "total")["total"] == 499500
    assert saturn.get_dask_cluster(cluster_id)["status"] == "running", "left running for the next task"


def test_a_stopped_cluster_without_start_fails_saying_how(airflow_db, saturn, tmp_path, monkeypatch, caplog, capsys):
    project_id, cluster_id = _project_with_cluster(saturn, "dask-task-stopped", running=False)
    dag_run = _dag(project_id, tmp_path, monkeypatch).test()
    assert states(dag_run)["total"] == "failed"
    logged = capsys.readouterr().out + caplog.text  # Airflow 3 logs to stdout, 2.11 through logging
    assert f"Dask cluster {cluster_id} is stopped, not running" in logged


def test_the_client_is_closed_when_the_function_raises(airflow_db, saturn, tmp_path, monkeypatch):
    project_id, cluster_id = _project_with_cluster(saturn, "dask-task-raises", running=True)
    source = DAG_SOURCE.replace("PROJECT", project_id).replace("START_ARGUMENT", "")
    source = source.replace('print(f"computing on', 'raise ValueError("boom")\n        print(f"')
    dag_run = dag_from_source(source, "saturn_dask_task", tmp_path, monkeypatch).test()
    assert states(dag_run)["total"] == "failed"
    with saturn.get_dask_client(cluster_id, timeout=20) as observer:
        clients = observer.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.clients))
    assert [name for name in clients if name != "fire-and-forget"] == [observer.id], "only the observer is left"


def test_a_start_that_times_out_stops_the_cluster_this_task_started(airflow_db, saturn, tmp_path, monkeypatch):
    project_id, cluster_id = _project_with_cluster(saturn, "dask-task-start-times-out", running=False)
    source = DAG_SOURCE.replace("PROJECT", project_id).replace("START_ARGUMENT", "start=True,")
    # a real start spawns a scheduler and a worker that import distributed: hundreds of milliseconds at least
    source = source.replace("timeout=60", "timeout=0.01")
    dag_run = dag_from_source(source, "saturn_dask_task", tmp_path, monkeypatch).test()
    assert states(dag_run)["total"] == "failed"
    assert saturn.get_dask_cluster(cluster_id)["status"] in ("stopping", "stopped")


def test_a_start_that_saturn_answers_with_error_stops_the_cluster_and_says_why(
    airflow_db, saturn, tmp_path, monkeypatch, caplog, capsys
):
    project = saturn.create_project("dask-task-start-error")
    cluster = saturn.create_dask_cluster(project["id"], n_workers=17, nthreads=1)  # over the emulator's bound
    source = DAG_SOURCE.replace("PROJECT", project["id"]).replace("START_ARGUMENT", "start=True,")
    dag_run = dag_from_source(source, "saturn_dask_task", tmp_path, monkeypatch).test()
    assert states(dag_run)["total"] == "failed"
    assert saturn.get_dask_cluster(cluster["id"])["status"] in ("stopping", "stopped"), "error at once: stopped too"
    logged = capsys.readouterr().out + caplog.text
    assert "the emulator runs at most 16 workers per Dask cluster" in logged
    assert f"Stopped Saturn Dask cluster {cluster['id']}, which this task started" in logged


MAPPED_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG("saturn_dask_mapped", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task.saturn_dask(dask_cluster_id="CLUSTER", connect_timeout=20)
    def square(n, *, dask_client):
        return dask_client.submit(lambda x: x * x, n).result()

    @task
    def total(values):
        return sum(values)

    total(square.expand(n=[1, 2, 3]))
"""


def test_mapped_instances_each_compute_with_a_client_of_their_own(
    airflow_db, saturn, emulator_dask, tmp_path, monkeypatch
):
    _, cluster_id = _project_with_cluster(saturn, "dask-task-mapped", running=True)
    source = MAPPED_DAG.replace("CLUSTER", cluster_id)
    dag_run = dag_from_source(source, "saturn_dask_mapped", tmp_path, monkeypatch).test()
    assert returned(dag_run, "total") == 14
    assert emulator_dask.config.stats.by_route.get("POST /api/dask_clusters/{id}/csr") == 3, "a key for each"
