"""The idle shutdown never stops busy work (issue 14, points 1-4), proven from the emulator's state.

A workspace takes its Dask cluster with it when it stops, so a workspace is idle only when its running cluster
is idle too, and not excluded, whatever ``kinds`` says. One failed stop never ends the scan. Saturn's clock may
run ahead of or behind Airflow's. Over real HTTP against the emulator; a proxy on 127.0.0.1
(``tests/misbehaving_server.py``) passes everything on to it except the answers a test breaks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.errors import SaturnError
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from tests.conftest import TOKEN, requests_to
from tests.emulator_proxy import proxy_to
from tests.harness import run_operator
from tests.misbehaving_server import Answer, Seen

HOURS = 3600
STOPPED = ("stopping", "stopped")
WORKSPACE_STOP = "POST /api/workspaces/{id}/stop"
CLUSTER_STOP = "POST /api/dask_clusters/{id}/stop"


def idle_operator(**kwargs: Any) -> SaturnStopIdleResourcesOperator:
    return SaturnStopIdleResourcesOperator(task_id="idle", **{"idle_for": timedelta(hours=2), **kwargs})


def workspace_with_cluster(
    emulator: SaturnEmulator, prefix: str, *, workspace_cpu: float = 20, cluster_cpu: Any = 10, workers: int = 2
) -> tuple[str, str]:
    """A workspace and its Dask cluster, both running for three hours, with scripted CPU (millicores a pod)."""
    answer = emulator.seed(
        kind="dask_cluster",
        prefix=prefix,
        started_ago_seconds=3 * HOURS,
        n_workers=workers,
        start_workspaces=True,
    )
    (group,) = answer["groups"]
    workspace_id, cluster_id = group["workspace_ids"][0], group["ids"][0]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": workspace_cpu})
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": cluster_cpu})
    return workspace_id, cluster_id


def rows_by_id(report: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in report}


def status(client: SaturnClient, kind: str, resource_id: str) -> str:
    read = client.get_jupyter_server if kind == "workspace" else client.get_dask_cluster
    return str(read(resource_id)["status"])


# ---------------------------------------------------------------- 1. a workspace and its Dask cluster


@pytest.mark.parametrize("kinds", [["workspace", "dask_cluster"], ["workspace"]], ids=["default", "workspace-only"])
def test_an_idle_workspace_with_a_busy_cluster_is_kept_and_both_run_on(
    saturn_connection, client: SaturnClient, kinds: list[str]
) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "notebook", workspace_cpu=20, cluster_cpu=900)
    report = rows_by_id(run_operator(idle_operator(kinds=kinds)))
    row = report[workspace_id]
    assert row["action"] == "kept"
    assert cluster_id in row["reason"] and "CPU reached 2.70" in row["reason"], row["reason"]
    if "dask_cluster" in kinds:
        assert report[cluster_id]["action"] == "kept"
    assert status(client, "workspace", workspace_id) == "running"
    assert status(client, "dask_cluster", cluster_id) == "running", "the busy cluster runs on"
    assert requests_to(emulator, WORKSPACE_STOP) == requests_to(emulator, CLUSTER_STOP) == 0
    assert requests_to(emulator, "GET /api/dask_clusters/{id}/metrics") == 1, "its metrics are read, once"


@pytest.mark.parametrize("kinds", [["workspace", "dask_cluster"], ["workspace"]], ids=["default", "workspace-only"])
def test_a_workspace_whose_cluster_is_excluded_is_kept(saturn_connection, client, kinds: list[str]) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "keepme")
    report = rows_by_id(run_operator(idle_operator(kinds=kinds, exclude=[cluster_id])))
    row = report[workspace_id]
    assert row["action"] == "kept" and "excluded" in row["reason"] and cluster_id in row["reason"], row
    if "dask_cluster" in kinds:
        assert report[cluster_id]["action"] == "excluded"
    assert status(client, "workspace", workspace_id) == "running"
    assert status(client, "dask_cluster", cluster_id) == "running"
    assert requests_to(emulator, WORKSPACE_STOP) == requests_to(emulator, CLUSTER_STOP) == 0


@pytest.mark.parametrize("kinds", [["workspace", "dask_cluster"], ["workspace"]], ids=["default", "workspace-only"])
def test_an_idle_workspace_and_its_idle_cluster_stop_together_once(saturn_connection, client, kinds: list[str]) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "quiet")
    report = rows_by_id(run_operator(idle_operator(kinds=kinds)))
    assert report[workspace_id]["action"] == "stopped"
    cluster_row = report[cluster_id]
    assert cluster_row["action"] == "stopped with its workspace", cluster_row
    assert cluster_row["kind"] == "dask_cluster" and workspace_id in cluster_row["reason"]
    assert requests_to(emulator, WORKSPACE_STOP) == 1
    assert requests_to(emulator, CLUSTER_STOP) == 0, "Saturn stops the cluster with its workspace: never twice"
    assert status(client, "workspace", workspace_id) in STOPPED
    assert status(client, "dask_cluster", cluster_id) in STOPPED
    assert requests_to(emulator, "GET /api/dask_clusters/{id}/metrics") == 1, "judged once"


def test_a_dry_run_says_the_cluster_would_stop_with_its_workspace(saturn_connection, client) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "dry")
    report = rows_by_id(run_operator(idle_operator(dry_run=True)))
    assert report[workspace_id]["action"] == "would stop"
    assert report[cluster_id]["action"] == "would stop with its workspace"
    assert status(client, "workspace", workspace_id) == status(client, "dask_cluster", cluster_id) == "running"
    assert requests_to(emulator, WORKSPACE_STOP) == requests_to(emulator, CLUSTER_STOP) == 0


def test_a_busy_workspace_with_an_idle_cluster_stops_the_cluster_alone(saturn_connection, client) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "working", workspace_cpu=900)
    report = rows_by_id(run_operator(idle_operator()))
    assert report[workspace_id]["action"] == "kept"
    assert report[cluster_id]["action"] == "stopped"
    assert status(client, "workspace", workspace_id) == "running"
    assert status(client, "dask_cluster", cluster_id) in STOPPED


def test_a_cluster_with_a_silent_pod_keeps_its_workspace(saturn_connection, client) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "silent")
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": 10}, missing_pods=["worker-1"])
    row = rows_by_id(run_operator(idle_operator(kinds=["workspace"])))[workspace_id]
    assert row["action"] == "kept" and cluster_id in row["reason"] and "no metrics for pod" in row["reason"], row
    assert status(client, "workspace", workspace_id) == status(client, "dask_cluster", cluster_id) == "running"


def test_a_stopped_cluster_does_not_keep_its_workspace(saturn_connection, client) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "alone")
    client.stop_dask_cluster(cluster_id)
    report = rows_by_id(run_operator(idle_operator()))
    assert report[workspace_id]["action"] == "stopped", report[workspace_id]["reason"]
    assert cluster_id not in report


# ---------------------------------------------------------------- a proxy that breaks chosen answers


def test_a_cluster_whose_metrics_cannot_be_read_keeps_its_workspace(emulator, client, monkeypatch) -> None:
    workspace_id, cluster_id = workspace_with_cluster(emulator, "unread")

    def breaks(seen: Seen) -> Answer | None:
        if seen.path.startswith(f"/api/dask_clusters/{cluster_id}/metrics"):
            return Answer.json({"message": "metrics backend down"}, status=500)
        return None

    with proxy_to(emulator, monkeypatch, breaks=breaks):
        row = rows_by_id(run_operator(idle_operator(kinds=["workspace"])))[workspace_id]
    assert row["action"] == "kept" and cluster_id in row["reason"] and "could not be read" in row["reason"], row
    assert status(client, "workspace", workspace_id) == status(client, "dask_cluster", cluster_id) == "running"


# ---------------------------------------------------------------- 3. a failed stop


def test_one_failed_stop_never_ends_the_scan(emulator, client, monkeypatch, capsys) -> None:
    ids = emulator.seed(kind="workspace", prefix="idle", count=3, started_ago_seconds=3 * HOURS)["ids"]
    for workspace_id in ids:
        emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    gone, *others = ids

    def breaks(seen: Seen) -> Answer | None:
        if seen.method == "POST" and seen.path == f"/api/workspaces/{gone}/stop":
            return Answer.json({"message": "Workspace not found"}, status=404)
        return None

    with proxy_to(emulator, monkeypatch, breaks=breaks), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    message = str(raised.value)
    assert "idle-000000" in message and gone in message and "1 of 3" in message, message
    assert TOKEN not in message
    for workspace_id in others:
        assert status(client, "workspace", workspace_id) in STOPPED, "the other stops went on"
    assert status(client, "workspace", gone) == "running"
    table = capsys.readouterr().out
    assert "stop failed" in table and table.count("stopped") >= 2, table
    assert TOKEN not in table


def test_every_failed_stop_is_named_and_its_row_says_why(emulator, client, monkeypatch) -> None:
    ids = emulator.seed(kind="workspace", prefix="flaky", count=3, started_ago_seconds=3 * HOURS)["ids"]
    for workspace_id in ids:
        emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    refused = set(ids[:2])

    def breaks(seen: Seen) -> Answer | None:
        if seen.method == "POST" and any(seen.path == f"/api/workspaces/{rid}/stop" for rid in refused):
            return Answer.json({"message": "no"}, status=409)
        return None

    with proxy_to(emulator, monkeypatch, breaks=breaks), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    for workspace_id in refused:
        assert workspace_id in str(raised.value)
    rows = raised.value.report  # type: ignore[attr-defined]  # the whole report, as logged
    failed = [row for row in rows if row["action"] == "stop failed"]
    assert {row["id"] for row in failed} == refused
    assert all("HTTP 409" in row["reason"] for row in failed), failed
    assert status(client, "workspace", ids[2]) in STOPPED


# ---------------------------------------------------------------- 2. Saturn's clock


def _skew(emulator: SaturnEmulator, kind: str, resource_id: str, seconds: float, cpu: float = 10) -> None:
    body = {"kind": kind, "id": resource_id, "series": {"cpu": cpu}, "clock_offset_seconds": seconds}
    answer = requests.post(emulator.url + "/_emulator/metrics", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("offset", "idle", "words"),
    [(-600, False, "10m behind"), (600, False, "10m ahead"), (-60, True, ""), (60, True, "")],
    ids=["10m-behind", "10m-ahead", "1m-behind", "1m-ahead"],
)
def test_a_saturn_clock_off_by_more_than_the_tolerance_is_not_idle(
    saturn_connection, client, offset: float, idle: bool, words: str
) -> None:
    """The resource's metrics are dated by a clock 10 minutes off, and so is the Date header of their answer
    (the emulator's list of active resources keeps Airflow's time): not idle, the reason naming the offset."""
    emulator = saturn_connection
    (workspace_id,) = emulator.seed(kind="workspace", prefix="skewed", started_ago_seconds=3 * HOURS)["ids"]
    _skew(emulator, "workspace", workspace_id, offset)
    (row,) = run_operator(idle_operator())
    if idle:
        assert row["action"] == "stopped", row["reason"]
        assert status(client, "workspace", workspace_id) in STOPPED
    else:
        assert row["action"] == "kept" and words in row["reason"], row["reason"]
        assert status(client, "workspace", workspace_id) == "running"


def test_when_a_workspace_stop_fails_its_idle_cluster_is_stopped_on_its_own(emulator, client, monkeypatch) -> None:
    workspace_id, cluster_id = workspace_with_cluster(emulator, "stuck")

    def breaks(seen: Seen) -> Answer | None:
        if seen.method == "POST" and seen.path == f"/api/workspaces/{workspace_id}/stop":
            return Answer.json({"message": "busy elsewhere"}, status=409)
        return None

    with proxy_to(emulator, monkeypatch, breaks=breaks), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    report = rows_by_id(raised.value.report)  # type: ignore[attr-defined]
    assert report[workspace_id]["action"] == "stop failed"
    assert report[cluster_id]["action"] == "stopped", "never reported as gone with a workspace that stayed"
    assert status(client, "dask_cluster", cluster_id) in STOPPED
    assert status(client, "workspace", workspace_id) == "running"


def test_a_coarse_resolution_still_finds_a_long_idle_cluster(saturn_connection, client) -> None:
    """A day's window at 172 s steps: the cluster's oldest point need not fall on the window's first second."""
    emulator = saturn_connection
    answer = emulator.seed(kind="dask_cluster", prefix="day", started_ago_seconds=26 * HOURS, n_workers=1)
    (cluster_id,) = answer["ids"]
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": 10})
    (row,) = run_operator(idle_operator(idle_for=timedelta(hours=24), dry_run=True))
    assert row["action"] == "would stop", row["reason"]


def test_a_workspace_restarted_inside_the_window_is_kept(saturn_connection, client) -> None:
    emulator = saturn_connection
    (workspace_id,) = emulator.seed(kind="workspace", prefix="restarted", started_ago_seconds=3 * HOURS)["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    emulator.backdate("workspace", workspace_id, 1800)  # its current start: half an hour ago
    (row,) = run_operator(idle_operator())
    assert row["action"] == "kept" and "up for 30m only" in row["reason"], row["reason"]
    assert status(client, "workspace", workspace_id) == "running"
