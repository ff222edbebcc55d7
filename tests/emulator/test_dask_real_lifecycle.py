"""Real-Dask mode, a cluster of each test's own: ``pending`` until the scheduler answers, ``/scale`` moves real
workers, every stop path ends every process (checked by pid) and removes the private directory, bounds and
failures put the cluster in ``error`` with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from saturn_api.models import DaskCluster

from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.emulator.__main__ import main as emulator_main
from tests.conftest import TOKEN
from tests.emulator.dask_support import Api, signed_client, working_directory
from tests.emulator.processes import alive, wait_for

distributed = pytest.importorskip("distributed")


def _pids(emulator: SaturnEmulator, cluster_id: str) -> list[int]:
    assert emulator.dask is not None
    with emulator.state.lock:
        return emulator.dask.pids(cluster_id)


def _gone(pids: list[int]) -> bool:
    return not any(alive(pid) for pid in pids)


def test_pending_until_the_scheduler_answers_then_running(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=2, nthreads=1)
    started_at = time.monotonic()
    answer = api("POST", f"/api/dask_clusters/{cluster_id}/start")
    assert answer.json()["status"] == "pending"
    assert api("GET", f"/api/dask_clusters/{cluster_id}/info").status_code == 409
    assert api.wait_status(cluster_id, "running", "error") == "running"
    print(f"a 2-worker real Dask cluster answered in {time.monotonic() - started_at:.2f} s")
    DaskCluster.model_validate(api("GET", f"/api/dask_clusters/{cluster_id}").json())
    pids = _pids(emulator_dask, cluster_id)
    assert len(pids) == 3
    directory = working_directory(pids[0])
    assert os.stat(directory).st_mode & 0o777 == 0o700
    assert {working_directory(pid) for pid in pids} == {directory}

    stopping = api("POST", f"/api/dask_clusters/{cluster_id}/stop")
    DaskCluster.model_validate(stopping.json())
    assert api.wait_status(cluster_id, "stopped", timeout=20) == "stopped"
    assert _gone(pids)
    assert not os.path.exists(directory)
    assert api("GET", f"/api/dask_clusters/{cluster_id}/info").status_code == 409


def test_scale_changes_the_workers_the_scheduler_sees(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=1, nthreads=1)
    info = api.started(cluster_id)
    with signed_client(api, cluster_id, info["scheduler_address"]) as client:
        assert len(client.scheduler_info()["workers"]) == 1
        assert api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 3}).status_code == 204
        assert api("GET", f"/api/dask_clusters/{cluster_id}").json()["n_workers"] == 3
        client.wait_for_workers(3, timeout=30)
        assert len(_pids(emulator_dask, cluster_id)) == 4
        before = _pids(emulator_dask, cluster_id)

        assert api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 0}).status_code == 204
        wait_for(lambda: not client.scheduler_info()["workers"], what="the workers' leave")
        wait_for(lambda: _gone(before[1:]), what="the retired workers' end")
        assert alive(before[0])  # the scheduler runs on
        assert api.status(cluster_id) == "running"

        too_many = api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 17})
        assert too_many.status_code == 400
        assert "at most 16 workers" in too_many.json()["message"]


def test_a_stopped_workspace_closes_its_cluster(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=1)
    api.started(cluster_id)
    pids = _pids(emulator_dask, cluster_id)
    workspace_id = api("GET", f"/api/dask_clusters/{cluster_id}").json()["workspace_id"]
    assert api("POST", f"/api/workspaces/{workspace_id}/stop").status_code == 200
    assert api.wait_status(cluster_id, "stopped", timeout=20) == "stopped"
    assert _gone(pids)


def test_a_deleted_workspace_ends_its_cluster_and_another_is_untouched(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    doomed = api.new_cluster("doomed", n_workers=0)
    kept = api.new_cluster("kept", n_workers=0)
    api.started(doomed)
    api.started(kept)
    doomed_pids, kept_pids = _pids(emulator_dask, doomed), _pids(emulator_dask, kept)
    workspace_id = api("GET", f"/api/dask_clusters/{doomed}").json()["workspace_id"]
    assert api("DELETE", f"/api/workspaces/{workspace_id}", params={"allow_active": "true"}).status_code == 204
    wait_for(lambda: _gone(doomed_pids), timeout=20, what="the deleted cluster's end")
    assert not any(_gone([pid]) for pid in kept_pids)
    assert api.status(kept) == "running"


def test_a_scheduler_that_dies_puts_the_cluster_in_error_and_ends_its_workers(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=1)
    api.started(cluster_id)
    scheduler, worker = _pids(emulator_dask, cluster_id)
    os.kill(scheduler, signal.SIGKILL)
    assert api.wait_status(cluster_id, "error", timeout=20) == "error"
    shown = api("GET", f"/api/dask_clusters/{cluster_id}").json()
    DaskCluster.model_validate(shown)
    assert shown["errors"] == ["The scheduler exited with code -9"]
    wait_for(lambda: _gone([worker]), what="the worker's end")
    assert api("POST", f"/api/dask_clusters/{cluster_id}/stop").json()["status"] in ("stopping", "stopped")
    assert api.wait_status(cluster_id, "stopped", timeout=20) == "stopped"


def test_bounds_put_a_start_in_error_with_the_reason() -> None:
    with SaturnEmulator(token=TOKEN, real_dask=True, max_dask_processes=3, max_dask_workers=3) as emulator:
        api = Api(emulator.url)
        first = api.new_cluster("first", n_workers=1)
        api.started(first)
        second = api.new_cluster("second", n_workers=1)
        assert api("POST", f"/api/dask_clusters/{second}/start").json()["status"] == "error"
        message = api("GET", f"/api/dask_clusters/{second}").json()["errors"][0]
        assert "needs 2 processes" in message
        assert "2 of the emulator's 3 already run" in message
        scale = api("POST", f"/api/dask_clusters/{first}/scale", json={"n": 3})
        assert scale.status_code == 409
        assert "needs 2 more processes" in scale.json()["message"]
        wide = api.new_cluster("wide", n_workers=4)
        assert api("POST", f"/api/dask_clusters/{wide}/start").json()["status"] == "error"
        assert "at most 3 workers" in api("GET", f"/api/dask_clusters/{wide}").json()["errors"][0]
        assert api.status(first) == "running"
        pids = _pids(emulator, first)
    assert _gone(pids)  # the emulator's stop ended them


def test_a_scheduler_that_does_not_answer_in_time_is_an_error() -> None:
    with SaturnEmulator(token=TOKEN, real_dask=True, dask_start_timeout=0.05, kill_grace_seconds=1) as emulator:
        api = Api(emulator.url)
        cluster_id = api.new_cluster(n_workers=1)
        api("POST", f"/api/dask_clusters/{cluster_id}/start")
        assert api.wait_status(cluster_id, "error", "running") == "error"
        assert (
            "did not answer with its 1 workers within 0.05 s"
            in api("GET", f"/api/dask_clusters/{cluster_id}").json()["errors"][0]
        )
        wait_for(lambda: not _pids(emulator, cluster_id), what="the processes' end")


def test_the_emulators_stop_ends_every_process() -> None:
    with SaturnEmulator(token=TOKEN, real_dask=True) as emulator:
        api = Api(emulator.url)
        cluster_id = api.new_cluster(n_workers=2)
        api.started(cluster_id)
        pids = _pids(emulator, cluster_id)
        directory = working_directory(pids[0])
    assert _gone(pids)
    assert not os.path.exists(directory)


def test_an_emulator_killed_outright_leaves_no_process_behind() -> None:
    code = (
        "import os, sys, time, requests\n"
        "from airflow_provider_saturn.emulator import SaturnEmulator\n"
        "from tests.emulator.dask_support import Api\n"
        "e = SaturnEmulator(token=sys.argv[1], real_dask=True).start()\n"
        "api = Api(e.url, sys.argv[1])\n"
        "c = api.new_cluster(n_workers=1)\n"
        "api.started(c)\n"
        "print(' '.join(map(str, e.dask.pids(c))), os.readlink(f'/proc/{e.dask.pids(c)[0]}/cwd'), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, TOKEN], capture_output=True, text=True, timeout=120)
    *numbers, directory = result.stdout.split() or [""]
    pids = [int(pid) for pid in numbers]
    assert len(pids) == 2, result.stderr[-2000:]
    wait_for(lambda: _gone(pids), timeout=10, what="the orphaned processes' end")
    assert directory.startswith(tempfile.gettempdir())
    wait_for(lambda: not os.path.exists(directory), timeout=5, what="the private directory's removal")


def test_real_dask_is_refused_off_loopback_and_without_distributed() -> None:
    with pytest.raises(ValueError, match="only on a loopback host"):
        SaturnEmulator(host="0.0.0.0", real_dask=True)
    with pytest.raises(SystemExit, match="only on a loopback host"):
        emulator_main(["--host", "0.0.0.0", "--real-dask"])
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from airflow_provider_saturn.emulator import SaturnEmulator\n"
        "try:\n    SaturnEmulator(real_dask=True)\nexcept ValueError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'airflow-provider-saturn[dask]'" in result.stdout, result.stderr[-2000:]


def test_a_forked_child_that_exits_leaves_the_parents_clusters_alone(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=0)
    api.started(cluster_id)
    pids = _pids(emulator_dask, cluster_id)
    child = os.fork()
    if child == 0:  # what the child's atexit hook runs (as an Airflow task process forked from it would)
        try:
            assert emulator_dask.dask is not None
            emulator_dask.dask.shutdown()
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    time.sleep(0.5)
    assert not _gone(pids)
    assert api.status(cluster_id) == "running"
