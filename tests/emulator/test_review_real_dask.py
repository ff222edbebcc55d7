"""Adversarial review of the emulator's real-Dask mode (issue 16): its destructive paths (stop, scale down, delete,
restart, the emulator's own stop) end only its own processes, and every process it or a client's task made ends
on every path, bounded."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN
from tests.emulator.dask_support import Api, signed_client, working_directory
from tests.emulator.processes import alive, wait_for

distributed = pytest.importorskip("distributed")


def _pids(emulator: SaturnEmulator, cluster_id: str | None = None) -> list[int]:
    assert emulator.dask is not None
    with emulator.state.lock:
        return emulator.dask.pids(cluster_id)


def _gone(pids: list[int]) -> bool:
    return not any(alive(pid) for pid in pids)


def _computes(api: Api, cluster_id: str) -> bool:
    info = api("GET", f"/api/dask_clusters/{cluster_id}/info", params={"is_external": "true"}).json()
    with signed_client(api, cluster_id, info["scheduler_address"], timeout=15) as client:
        return bool(client.submit(lambda x: x + 1, 1).result(timeout=15) == 2)


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process of this test's own, in a session of its own, that no emulator path may end."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield process
    process.kill()
    process.wait(timeout=10)


def test_review_every_destructive_path_of_one_cluster_spares_the_others_and_strangers(emulator_dask, bystander):
    api = Api(emulator_dask.url)
    kept = api.new_cluster("review-kept", n_workers=1)
    doomed = api.new_cluster("review-doomed", n_workers=2)
    api.started(kept)
    api.started(doomed)
    kept_pids = _pids(emulator_dask, kept)

    assert api("POST", f"/api/dask_clusters/{doomed}/scale", json={"n": 0}).status_code == 204
    wait_for(lambda: len(_pids(emulator_dask, doomed)) == 1, timeout=20, what="the scale-down")
    assert api("POST", f"/api/dask_clusters/{doomed}/stop").status_code == 200
    assert api.wait_status(doomed, "stopped", timeout=20) == "stopped"
    api.started(doomed)  # again, then its workspace deleted while it runs
    workspace_id = api("GET", f"/api/dask_clusters/{doomed}").json()["workspace_id"]
    assert api("DELETE", f"/api/workspaces/{workspace_id}", params={"allow_active": "true"}).status_code == 204
    wait_for(lambda: not _pids(emulator_dask, doomed), timeout=20, what="the deleted cluster's end")

    assert all(alive(pid) for pid in kept_pids), "another cluster's process was ended"
    assert _pids(emulator_dask, kept) == kept_pids
    assert bystander.poll() is None, "a process that is not the emulator's was ended"
    assert api.status(kept) == "running" and _computes(api, kept)


def test_review_a_second_emulator_stopping_never_ends_the_first_ones_clusters(emulator_dask, bystander):
    api = Api(emulator_dask.url)
    first = api.new_cluster("review-first-emulator", n_workers=1)
    api.started(first)
    first_pids = _pids(emulator_dask, first)
    with SaturnEmulator(token=TOKEN, real_dask=True, kill_grace_seconds=1.0) as other:
        other_api = Api(other.url)
        theirs = other_api.new_cluster("review-other-emulator", n_workers=1)
        other_api.started(theirs)
        other_pids = _pids(other, theirs)
        assert not set(other_pids) & set(first_pids)
        other_api("POST", "/_emulator/reset")
    assert _gone(other_pids), "the stopped emulator left its own processes"
    assert all(alive(pid) for pid in first_pids), "stopping one emulator ended another's cluster"
    assert bystander.poll() is None
    assert _computes(api, first)


def test_review_a_start_while_stopping_runs_one_new_set_and_ends_the_old(emulator_dask):
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster("review-restart", n_workers=1)
    api.started(cluster_id)
    old = _pids(emulator_dask, cluster_id)
    assert api("POST", f"/api/dask_clusters/{cluster_id}/stop").status_code == 200
    assert api("POST", f"/api/dask_clusters/{cluster_id}/start").status_code == 200  # before the stop ended
    assert api.wait_status(cluster_id, "running", "error", timeout=60) == "running"
    wait_for(lambda: _gone(old), timeout=20, what="the old processes' end")
    new = _pids(emulator_dask, cluster_id)
    assert len(new) == 2 and not set(new) & set(old)
    assert _computes(api, cluster_id)
    time.sleep(0.5)  # the old start's end must not move the new one to stopped
    assert api.status(cluster_id) == "running"


def test_review_a_workspace_deleted_while_its_cluster_is_pending_leaves_no_process_or_directory(emulator_dask):
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster("review-delete-pending", n_workers=2)
    workspace_id = api("GET", f"/api/dask_clusters/{cluster_id}").json()["workspace_id"]
    assert api("POST", f"/api/dask_clusters/{cluster_id}/start").json()["status"] == "pending"
    pids = wait_for(lambda: _pids(emulator_dask, cluster_id), timeout=10, what="a first process")
    directory = working_directory(pids[0])
    assert api("DELETE", f"/api/workspaces/{workspace_id}", params={"allow_active": "true"}).status_code == 204
    wait_for(lambda: not _pids(emulator_dask, cluster_id), timeout=20, what="the processes' end")
    assert _gone(pids)
    wait_for(lambda: not os.path.exists(directory), timeout=5, what="the directory's removal")
    assert api("GET", f"/api/dask_clusters/{cluster_id}").status_code == 404


def test_review_the_private_directory_holds_keys_only_its_owner_reads_and_goes_with_the_cluster(emulator_dask):
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster("review-private", n_workers=1)
    api.started(cluster_id)
    directory = working_directory(_pids(emulator_dask, cluster_id)[0])
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    keys = [name for name in os.listdir(directory) if name.endswith("-key.pem")]
    assert sorted(keys) == ["probe-key.pem", "scheduler-key.pem", "worker-key.pem"]
    assert all(stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) & 0o077 == 0 for name in keys)
    api("POST", f"/api/dask_clusters/{cluster_id}/stop")
    assert api.wait_status(cluster_id, "stopped", timeout=20) == "stopped"
    assert not os.path.exists(directory)


def _spawn_detached(seconds: int) -> int:
    """Run on a Dask worker: a process that leaves the worker's group and session, as a careless task would."""
    import subprocess as sp

    return sp.Popen(["sleep", str(seconds)], start_new_session=True).pid


def test_review_a_process_a_clients_task_left_behind_ends_with_the_cluster(emulator_dask):
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster("review-detached", n_workers=1)
    info = api.started(cluster_id)
    with signed_client(api, cluster_id, info["scheduler_address"], timeout=15) as client:
        orphan = client.submit(_spawn_detached, 120, pure=False).result(timeout=15)
    assert alive(orphan)
    api("POST", f"/api/dask_clusters/{cluster_id}/stop")
    assert api.wait_status(cluster_id, "stopped", timeout=30) == "stopped"
    wait_for(lambda: not alive(orphan), timeout=10, what="the detached process's end")


def test_review_scale_up_over_the_process_bound_is_refused_and_starts_nothing() -> None:
    with SaturnEmulator(token=TOKEN, real_dask=True, max_dask_processes=3, kill_grace_seconds=1.0) as emulator:
        api = Api(emulator.url)
        cluster_id = api.new_cluster("review-bound", n_workers=1)
        api.started(cluster_id)
        for n in (3, 5, 16):
            answer = api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": n})
            assert answer.status_code == 409, answer.text
        assert api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 2}).status_code == 204
        wait_for(lambda: len(_pids(emulator, cluster_id)) == 3, timeout=30, what="the second worker")
        time.sleep(0.5)
        assert len(_pids(emulator, cluster_id)) == 3, "more processes than the bound"
        assert api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 3}).status_code == 409
        pids = _pids(emulator)
    assert _gone(pids)


def test_review_quick_starts_and_stops_stay_within_the_bound() -> None:
    """Start and stop in quick turns, starting again while the last processes still end: a start beyond the bound
    is refused (``error``), never run; never more processes than the bound, none left at the end."""
    with SaturnEmulator(token=TOKEN, real_dask=True, max_dask_processes=4, kill_grace_seconds=1.0) as emulator:
        api = Api(emulator.url)
        cluster_ids = [api.new_cluster(f"review-churn-{index}", n_workers=1) for index in range(3)]
        most = 0
        for _ in range(2):
            for cluster_id in cluster_ids:
                api("POST", f"/api/dask_clusters/{cluster_id}/start")
                most = max(most, len(_pids(emulator)))
            for cluster_id in cluster_ids:
                api("POST", f"/api/dask_clusters/{cluster_id}/stop")
                most = max(most, len(_pids(emulator)))
        for cluster_id in cluster_ids:
            assert api.wait_status(cluster_id, "stopped", timeout=60) == "stopped"
        assert most <= 4
        wait_for(lambda: not _pids(emulator), timeout=20, what="every process's end")


def test_review_an_emulator_process_killed_while_a_cluster_starts_leaves_nothing(tmp_path) -> None:
    """Killed outright while its cluster is still ``pending`` (workers waiting for the scheduler's file)."""
    code = (
        "import os, sys, time\n"
        "from airflow_provider_saturn.emulator import SaturnEmulator\n"
        "from tests.emulator.dask_support import Api\n"
        "e = SaturnEmulator(token=sys.argv[1], real_dask=True).start()\n"
        "api = Api(e.url, sys.argv[1])\n"
        "c = api.new_cluster(n_workers=2)\n"
        "api('POST', f'/api/dask_clusters/{c}/start')\n"
        "while len(e.dask.pids(c)) < 2: time.sleep(0.01)\n"
        "pids = e.dask.pids(c)\n"
        "print(' '.join(map(str, pids)), os.readlink(f'/proc/{pids[0]}/cwd'), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, TOKEN], capture_output=True, text=True, timeout=120, cwd=os.getcwd()
    )
    *numbers, directory = result.stdout.split() or [""]
    pids = [int(pid) for pid in numbers]
    assert len(pids) >= 2, result.stderr[-2000:]
    wait_for(lambda: _gone(pids), timeout=15, what="the orphaned processes' end")
    wait_for(lambda: not os.path.exists(directory), timeout=5, what="the private directory's removal")


def test_review_signals_to_a_reaped_process_group_never_happen(emulator_dask, monkeypatch):
    """Every signal the emulator sends goes to a group whose leader it has not reaped (so whose id cannot have
    been reused by another process): recorded over a start, a scale-down, a crash and a stop."""
    from airflow_provider_saturn.emulator import real_dask

    sent: list[tuple[int, bool]] = []
    original = real_dask.signal_group

    def checked(pgid: int, signum: signal.Signals) -> None:
        try:
            os.waitid(os.P_PID, pgid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            ours = True
        except ChildProcessError:  # not our child any more: reaped
            ours = False
        sent.append((pgid, ours))
        original(pgid, signum)

    monkeypatch.setattr(real_dask, "signal_group", checked)
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster("review-signals", n_workers=2)
    api.started(cluster_id)
    api("POST", f"/api/dask_clusters/{cluster_id}/scale", json={"n": 1})
    wait_for(lambda: len(_pids(emulator_dask, cluster_id)) == 2, timeout=20, what="the scale-down")
    worker = _pids(emulator_dask, cluster_id)[-1]
    os.kill(worker, signal.SIGKILL)
    assert api.wait_status(cluster_id, "error", timeout=20) == "error"
    wait_for(lambda: not _pids(emulator_dask, cluster_id), timeout=20, what="the end")
    assert sent and all(ours for _, ours in sent), f"signals to reaped groups: {sent}"
