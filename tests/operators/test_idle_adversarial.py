"""An adversarial review of the idle shutdown (issue 14, points 1-4): try to make it stop what it must not.

Pure cases of ``idleness.py`` first (odd series, zones, clocks, windows), then the operator over real HTTP
against the emulator, with a proxy on 127.0.0.1 (``tests/misbehaving_server.py``) rewriting Saturn's list of
active resources where a case needs conflicting or partial data. Eight of these cases were defects when the
review was written (strict xfails, one per defect); they are fixed, and their tests are ordinary ones: a month's
window whose newest point is hours old, a cluster claimed by two idle workspaces, a cluster whose worker count
is unreadable, a failed stop's error quoting the API token, a hostile name in the table and the error, and
exclude entries that matched nothing (a glob, a rendered list, ``tag:key``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_saturn.client.errors import SaturnError
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.hooks.saturn import SaturnHook
from airflow_provider_saturn.idleness import (
    Candidate,
    Verdict,
    attached_clusters,
)
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from airflow_provider_saturn.operators.idle import _Scan, report_table
from tests.conftest import TOKEN, requests_to
from tests.emulator_proxy import Resources, proxy_to
from tests.harness import run_operator
from tests.misbehaving_server import Answer, Seen
from tests.operators.test_idle_review import _skew, idle_operator, rows_by_id, status, workspace_with_cluster
from tests.test_idleness_clock import judge, series

HOURS = 3600
DAYS = 86400
STOPPED = ("stopping", "stopped")
WORKSPACE_STOP = "POST /api/workspaces/{id}/stop"
CLUSTER_STOP = "POST /api/dask_clusters/{id}/stop"

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE_FOR = timedelta(hours=2)
STEP = timedelta(seconds=60)
POINTS = int(IDLE_FOR / STEP) + 1


# ---------------------------------------------------------------- pure helpers


def workspace(started_ago: timedelta = timedelta(hours=3), resource_id: str = "a" * 32) -> Candidate:
    return Candidate("workspace", resource_id, "ws", "me", {}, NOW - started_ago)


def dask_cluster(workers: int, resource_id: str = "b" * 32) -> Candidate:
    return Candidate("dask_cluster", resource_id, "dc", "me", {}, None, {"n_workers": workers})


# ---------------------------------------------------------------- odd series: held up


def test_duplicate_timestamps_keep_the_busiest_value() -> None:
    """Two points at the same moment, quiet then busy: the busy one counts, whatever their order."""
    pod = series([10] * POINTS)
    pod["data"].insert(60, {"datetime": pod["data"][60]["datetime"], "value": 900})
    verdict = judge(workspace(), [pod])
    assert not verdict.idle and "CPU reached 0.90" in verdict.reason, verdict.reason


def test_unsorted_points_are_read_in_time_order() -> None:
    quiet = series([10] * POINTS)
    random.Random(7).shuffle(quiet["data"])
    assert judge(workspace(), [quiet]).idle
    busy = series([10] * (POINTS - 1) + [900])
    random.Random(7).shuffle(busy["data"])
    verdict = judge(workspace(), [busy])
    assert not verdict.idle and "CPU reached 0.90" in verdict.reason, verdict.reason


@pytest.mark.parametrize("where", ["now", "window-start", "mid"])
def test_one_point_only_is_not_idle(where: str) -> None:
    end = {"now": NOW, "window-start": NOW - IDLE_FOR, "mid": NOW - timedelta(hours=1)}[where]
    verdict = judge(workspace(), [series([10], end=end)])
    assert not verdict.idle, verdict.reason


def test_a_resolution_that_does_not_divide_the_window() -> None:
    """7001 s at 60 s steps: the first point falls 41 s into the window, which is covered."""
    idle_for = timedelta(seconds=7001)
    count = int(idle_for / STEP) + 1
    assert judge(workspace(), [series([10] * count)], idle_for=idle_for).idle
    busy = judge(workspace(), [series([900] + [10] * (count - 1))], idle_for=idle_for)
    assert not busy.idle, "its oldest point inside the window is judged"


def _in_zone(pod: dict[str, Any], zone: str) -> dict[str, Any]:
    """The same series, its instants written in another zone: ``+05:30``, ``Z`` or none (UTC)."""
    moved = copy.deepcopy(pod)
    for point in moved["data"]:
        moment = datetime.fromisoformat(point["datetime"])
        if zone == "+05:30":
            point["datetime"] = moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
        elif zone == "Z":
            point["datetime"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            point["datetime"] = moment.replace(tzinfo=None).isoformat()
    return moved


def test_zones_name_the_same_instants_and_pods_in_different_zones_are_summed() -> None:
    zones = ("+05:30", "Z", "none")
    quiet = [_in_zone(series([10] * POINTS, pod=f"p{index}"), zone) for index, zone in enumerate(zones)]
    verdict = judge(dask_cluster(workers=2), quiet)
    assert verdict.idle, verdict.reason
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.03)
    busy = [_in_zone(series([40] * POINTS, pod=f"p{index}"), zone) for index, zone in enumerate(zones)]
    verdict = judge(dask_cluster(workers=2), busy)
    assert not verdict.idle and verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.12), verdict.reason


def test_a_pod_appearing_mid_window_is_not_idle() -> None:
    """A worker added half an hour ago (autoscaling): the window is not covered for it."""
    scheduler = series([10] * POINTS, pod="scheduler")
    late = series([10] * 31, pod="worker-new")
    verdict = judge(dask_cluster(workers=1), [scheduler, late])
    assert not verdict.idle and "cover only" in verdict.reason, verdict.reason


def test_a_pod_gone_mid_window_is_not_idle() -> None:
    scheduler = series([10] * POINTS, pod="scheduler")
    gone = series([10] * 60, pod="worker-old", end=NOW - timedelta(hours=1))
    verdict = judge(dask_cluster(workers=1), [scheduler, gone])
    assert not verdict.idle and "newest point" in verdict.reason, verdict.reason


def test_a_tiny_window_of_a_minute() -> None:
    idle_for = timedelta(seconds=60)
    assert judge(workspace(), [series([10, 10])], idle_for=idle_for).idle
    before_the_window = judge(workspace(), [series([10], end=NOW - timedelta(seconds=170))], idle_for=idle_for)
    assert not before_the_window.idle, before_the_window.reason
    busy = judge(workspace(), [series([10, 900])], idle_for=idle_for)
    assert not busy.idle


@pytest.mark.parametrize(
    ("stamp", "idle"),
    [("0001-01-01T00:00:00+05:30", True), ("9999-12-31T23:59:59-05:00", False), ("not a time", False), ("", False)],
    ids=["year-1", "year-9999", "text", "empty"],
)
def test_extreme_or_unreadable_timestamps_never_crash(stamp: str, idle: bool) -> None:
    """The newest point re-dated: long before the window (left out: the rest still covers it), far in the
    future, or unreadable (not idle)."""
    pod = series([10] * POINTS)
    pod["data"][-1]["datetime"] = stamp
    verdict = judge(workspace(), [pod])
    assert verdict.idle is idle, verdict.reason


def test_a_month_window_does_not_accept_four_hours_without_points() -> None:
    """29 days are read at 5011 s steps: the newest point may be one step and the tolerance old, not 4 hours."""
    idle_for = timedelta(days=29)
    step = timedelta(seconds=int(idle_for.total_seconds()) // 500)  # the operator's resolution for 29 days
    count = int((idle_for - timedelta(hours=4)) / step) + 1
    pod = series([10] * count, end=NOW - timedelta(hours=4), step=step)
    pod["data"].insert(0, {"datetime": (NOW - idle_for).isoformat(), "value": 10})
    verdict = judge(workspace(started_ago=timedelta(days=30)), [pod], idle_for=idle_for, resolution=step)
    assert not verdict.idle, f"no point for 4 hours, judged: {verdict.reason}"


# ---------------------------------------------------------------- which cluster a workspace has


@pytest.mark.parametrize(
    ("nested_status", "attached"),
    [
        ("Running", True),
        ("starting", True),
        ("pending", True),
        ("PENDING ", True),
        (None, True),
        (42, True),
        ("unknown-new-status", True),
        (" STOPPED ", False),
        ("closed", False),
        ("Error", False),
        ("stopping", False),
    ],
)
def test_a_nested_cluster_counts_unless_its_status_runs_nothing(nested_status: Any, attached: bool) -> None:
    items = [{"resource_type": "workspace", "id": "w" * 32, "dask_cluster": {"id": "c" * 32, "status": nested_status}}]
    found = attached_clusters(items)
    assert (found.get("w" * 32) is not None) is attached, found


def test_an_active_cluster_counts_whatever_its_nested_copy_says() -> None:
    items: list[dict[str, Any]] = [
        {"resource_type": "workspace", "id": "w" * 32, "dask_cluster": {"id": "c" * 32, "status": "stopped"}},
        {"resource_type": "dask", "id": "c" * 32, "n_workers": 3},  # active, no workspace_id
        {"resource_type": "workspace", "id": "v" * 32, "dask_cluster_id": "d" * 32},  # only an id
        {"resource_type": "dask", "id": "d" * 32},
    ]
    found = {key: [cluster.id for cluster in value] for key, value in attached_clusters(items).items()}
    assert found == {"w" * 32: ["c" * 32], "v" * 32: ["d" * 32]}


def test_two_workspaces_claiming_one_cluster_both_have_it() -> None:
    items: list[dict[str, Any]] = [
        {"resource_type": "workspace", "id": "w" * 32, "dask_cluster": {"id": "c" * 32, "status": "running"}},
        {"resource_type": "workspace", "id": "v" * 32},
        {"resource_type": "dask", "id": "c" * 32, "workspace_id": "v" * 32},
    ]
    found = {key: [cluster.id for cluster in value] for key, value in attached_clusters(items).items()}
    assert found == {"w" * 32: ["c" * 32], "v" * 32: ["c" * 32]}


def test_a_cluster_whose_id_is_a_workspace_id_is_never_mistaken_for_it() -> None:
    """Ids are compared with their kind: a cluster gone with one workspace hides no workspace of the same id."""
    same, other = "s" * 32, "t" * 32
    quiet = Verdict(workspace(resource_id=same), True, "idle")
    cluster_same_id = Verdict(dask_cluster(1, resource_id=same), True, "idle")
    companion = Verdict(dask_cluster(1, resource_id=other), True, "idle")
    workspace_with_cluster_id = Verdict(workspace(resource_id=other), False, "busy")
    scan = _Scan([quiet, cluster_same_id, workspace_with_cluster_id], [], {same: [companion]})
    operator = SaturnStopIdleResourcesOperator(task_id="idle", idle_for=IDLE_FOR, dry_run=True)
    report = operator._act_on(scan)
    actions = [(row["kind"], row["id"], row["action"]) for row in report]
    assert actions == [
        ("workspace", same, "would stop"),
        ("dask_cluster", other, "would stop with its workspace"),
        ("dask_cluster", same, "would stop"),
        ("workspace", other, "kept"),
    ]


# ---------------------------------------------------------------- over HTTP: helpers


def quiet_workspace(emulator: SaturnEmulator, prefix: str, cpu: float = 10) -> str:
    (workspace_id,) = emulator.seed(kind="workspace", prefix=prefix, started_ago_seconds=3 * HOURS)["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": cpu})
    return str(workspace_id)


def stops(seen: list[Seen]) -> list[str]:
    return [request.path for request in seen if request.method == "POST" and request.path.endswith("/stop")]


# ---------------------------------------------------------------- the cluster listed one way, or conflicting


def test_a_busy_cluster_listed_only_by_its_workspace_id_keeps_its_workspace(emulator, client, monkeypatch) -> None:
    workspace_id, cluster_id = workspace_with_cluster(emulator, "oneway", cluster_cpu=900)

    def only_the_clusters_side(items: Resources) -> Resources:
        return [{key: value for key, value in item.items() if key != "dask_cluster"} for item in items]

    with proxy_to(emulator, monkeypatch, active=only_the_clusters_side) as seen:
        row = rows_by_id(run_operator(idle_operator(kinds=["workspace"])))[workspace_id]
    assert row["action"] == "kept" and cluster_id in row["reason"], row
    assert stops(seen) == []
    assert status(client, "workspace", workspace_id) == status(client, "dask_cluster", cluster_id) == "running"


@pytest.mark.parametrize("nested_status", ["running", "Running", "starting", "pending", None])
def test_a_busy_cluster_listed_only_nested_keeps_its_workspace(
    emulator, client, monkeypatch, nested_status: Any
) -> None:
    """The cluster is missing from the active list; the workspace's nested copy is all that names it."""
    workspace_id, cluster_id = workspace_with_cluster(emulator, "nested", cluster_cpu=900)

    def only_the_workspaces_side(items: Resources) -> Resources:
        kept = [item for item in items if item.get("resource_type") != "dask"]
        for item in kept:
            if isinstance(item.get("dask_cluster"), dict):
                item["dask_cluster"]["status"] = nested_status
        return kept

    with proxy_to(emulator, monkeypatch, active=only_the_workspaces_side) as seen:
        row = rows_by_id(run_operator(idle_operator()))[workspace_id]
    assert row["action"] == "kept" and cluster_id in row["reason"], row
    assert stops(seen) == []
    assert status(client, "dask_cluster", cluster_id) == "running"


def test_a_nested_copy_saying_stopped_never_hides_an_active_busy_cluster(emulator, client, monkeypatch) -> None:
    workspace_id, cluster_id = workspace_with_cluster(emulator, "conflict", cluster_cpu=900)

    def stale_nested_copy(items: Resources) -> Resources:
        for item in items:
            if isinstance(item.get("dask_cluster"), dict):
                item["dask_cluster"]["status"] = "stopped"
        return items

    with proxy_to(emulator, monkeypatch, active=stale_nested_copy) as seen:
        row = rows_by_id(run_operator(idle_operator(kinds=["workspace"])))[workspace_id]
    assert row["action"] == "kept" and cluster_id in row["reason"], row
    assert stops(seen) == []


def test_a_busy_cluster_claimed_by_a_second_idle_workspace_keeps_both(emulator, client, monkeypatch) -> None:
    """Conflicting data: an unrelated idle workspace's nested copy names someone's busy cluster."""
    workspace_id, cluster_id = workspace_with_cluster(emulator, "owner", workspace_cpu=900, cluster_cpu=900)
    other = quiet_workspace(emulator, "claimer")

    def claim(items: Resources) -> Resources:
        nested = next(item["dask_cluster"] for item in items if item.get("id") == workspace_id)
        for item in items:
            if item.get("id") == other:
                item["dask_cluster"] = copy.deepcopy(nested)
        return items

    with proxy_to(emulator, monkeypatch, active=claim) as seen:
        report = rows_by_id(run_operator(idle_operator()))
    assert report[other]["action"] == "kept" and cluster_id in report[other]["reason"], report[other]
    assert stops(seen) == []


def test_a_cluster_claimed_by_two_idle_workspaces_shows_once(emulator, client, monkeypatch) -> None:
    """One 'with its workspace' row for the cluster, after the first workspace that takes it."""
    workspace_id, cluster_id = workspace_with_cluster(emulator, "pair")
    other = quiet_workspace(emulator, "twin")

    def claim(items: Resources) -> Resources:
        nested = next(item["dask_cluster"] for item in items if item.get("id") == workspace_id)
        for item in items:
            if item.get("id") == other:
                item["dask_cluster"] = copy.deepcopy(nested)
        return items

    with proxy_to(emulator, monkeypatch, active=claim):
        report = run_operator(idle_operator(dry_run=True))
    cluster_rows = [row for row in report if row["id"] == cluster_id]
    assert len(cluster_rows) == 1, cluster_rows


# ---------------------------------------------------------------- exclusion of the cluster, kinds, uptime


@pytest.mark.parametrize("kinds", [["workspace", "dask_cluster"], ["workspace"]], ids=["default", "workspace-only"])
@pytest.mark.parametrize("how", ["tag", "name"])
def test_a_cluster_excluded_by_tag_or_name_keeps_its_idle_workspace(
    emulator, client, monkeypatch, kinds: list[str], how: str
) -> None:
    workspace_id, cluster_id = workspace_with_cluster(emulator, "guarded")

    def mark_the_cluster(items: Resources) -> Resources:
        for item in items:
            found = item if item.get("id") == cluster_id else item.get("dask_cluster")
            if isinstance(found, dict) and found.get("id") == cluster_id:
                found["tags"], found["name"] = {"keep": "yes"}, "precious-cluster"
        return items

    exclude = "tag:keep=yes" if how == "tag" else "precious-cluster"
    with proxy_to(emulator, monkeypatch, active=mark_the_cluster) as seen:
        report = rows_by_id(run_operator(idle_operator(kinds=kinds, exclude=exclude)))
    row = report[workspace_id]
    assert row["action"] == "kept" and "excluded" in row["reason"] and cluster_id in row["reason"], row
    assert stops(seen) == []
    assert status(client, "workspace", workspace_id) == status(client, "dask_cluster", cluster_id) == "running"


def test_only_dask_clusters_never_touch_a_workspace(saturn_connection, client) -> None:
    emulator = saturn_connection
    idle_ws, busy_cluster = workspace_with_cluster(emulator, "a", cluster_cpu=900)
    busy_ws, idle_cluster = workspace_with_cluster(emulator, "b", workspace_cpu=900)
    report = rows_by_id(run_operator(idle_operator(kinds=["dask_cluster"])))
    assert set(report) == {busy_cluster, idle_cluster}
    assert report[busy_cluster]["action"] == "kept" and report[idle_cluster]["action"] == "stopped"
    assert requests_to(emulator, WORKSPACE_STOP) == 0
    assert status(client, "workspace", idle_ws) == status(client, "workspace", busy_ws) == "running"
    assert status(client, "dask_cluster", busy_cluster) == "running"


def test_an_excluded_workspace_is_never_stopped_and_its_busy_cluster_runs_on(saturn_connection, client) -> None:
    """Excluded by id: never stopped. (Its idle cluster is judged on its own: see the report of this review.)"""
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "vip", cluster_cpu=900)
    report = rows_by_id(run_operator(idle_operator(exclude=[workspace_id])))
    assert report[workspace_id]["action"] == "excluded"
    assert report[cluster_id]["action"] == "kept"
    assert requests_to(emulator, WORKSPACE_STOP) == requests_to(emulator, CLUSTER_STOP) == 0


def test_uptime_mode_keeps_a_workspace_with_a_running_cluster(saturn_connection, client) -> None:
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "uptime")
    alone = quiet_workspace(emulator, "alone", cpu=900)  # busy, but uptime mode ignores CPU
    report = rows_by_id(run_operator(idle_operator(idle_by="uptime")))
    assert report[workspace_id]["action"] == "kept" and cluster_id in report[workspace_id]["reason"]
    assert report[cluster_id]["action"] == "kept" and "start time" in report[cluster_id]["reason"]
    assert report[alone]["action"] == "stopped"
    assert status(client, "dask_cluster", cluster_id) == status(client, "workspace", workspace_id) == "running"
    assert requests_to(emulator, "GET /api/workspaces/{id}/metrics") == 0, "uptime mode reads no metrics"


def test_a_dry_run_sends_no_stop_whatever_it_finds(emulator, client, monkeypatch) -> None:
    workspace_with_cluster(emulator, "quiet")
    workspace_with_cluster(emulator, "busy", cluster_cpu=900)
    quiet_workspace(emulator, "plain")
    with proxy_to(emulator, monkeypatch) as seen:
        report = run_operator(idle_operator(dry_run=True, kinds=["workspace", "dask_cluster", "deployment", "job"]))
    assert stops(seen) == [] and [request for request in seen if request.method != "GET"] == []
    assert {row["action"] for row in report} >= {"would stop", "would stop with its workspace", "kept"}


# ---------------------------------------------------------------- a cluster whose workers are not counted


def test_a_cluster_without_a_readable_worker_count_and_silent_workers_is_not_idle(
    emulator, client, monkeypatch
) -> None:
    """n_workers null: not taken as a scheduler alone, so the workers without metrics are not missed."""
    workspace_id, cluster_id = workspace_with_cluster(emulator, "autoscaled", workers=3)
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": 10}, missing_pods=["worker"])

    def no_worker_count(items: Resources) -> Resources:
        for item in items:
            for found in (item, item.get("dask_cluster")):
                if isinstance(found, dict) and found.get("id") == cluster_id:
                    found["n_workers"] = None
        return items

    with proxy_to(emulator, monkeypatch, active=no_worker_count) as seen:
        report = rows_by_id(run_operator(idle_operator(dry_run=True)))
    assert report[workspace_id]["action"] == "kept", report[workspace_id]
    assert report[cluster_id]["action"] == "kept", report[cluster_id]
    assert stops(seen) == []


# ---------------------------------------------------------------- failed stops


def test_a_stop_raising_a_non_saturn_error_is_a_row_without_its_text(
    emulator, client, monkeypatch, caplog, capsys
) -> None:
    broken, *others = emulator.seed(kind="workspace", prefix="odd", count=3, started_ago_seconds=3 * HOURS)["ids"]
    for workspace_id in (broken, *others):
        emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    secret = "AKIAIOSFODNN7EXAMPLE-password=hunter2"
    real_stop = SaturnHook.stop_jupyter_server

    def stop(self: SaturnHook, jupyter_server_id: str) -> Any:
        if jupyter_server_id == broken:
            raise RuntimeError(f"connection pool exploded: {secret}")
        return real_stop(self, jupyter_server_id)

    monkeypatch.setattr(SaturnHook, "stop_jupyter_server", stop)
    with proxy_to(emulator, monkeypatch), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    report = rows_by_id(raised.value.report)  # type: ignore[attr-defined]
    assert report[broken]["action"] == "stop failed"
    assert report[broken]["reason"] == "stop failed: unexpected RuntimeError"
    assert all(report[workspace_id]["action"] == "stopped" for workspace_id in others)
    assert all(status(client, "workspace", workspace_id) in STOPPED for workspace_id in others)
    logged = caplog.text + capsys.readouterr().out  # the task log: stdout under Airflow 3's task runner
    assert "stop failed" in logged, "the table was logged"
    shown = str(raised.value) + json.dumps(raised.value.report) + logged  # type: ignore[attr-defined]
    assert secret not in shown and "hunter2" not in shown


def test_a_stop_error_echoing_the_token_never_shows_it(emulator, client, monkeypatch, caplog, capsys) -> None:
    """Saturn's own words on a failed stop may quote what it was given; the API token must not get through."""
    workspace_id = quiet_workspace(emulator, "echo")

    def breaks(seen: Seen) -> Answer | None:
        if seen.method == "POST" and seen.path == f"/api/workspaces/{workspace_id}/stop":
            return Answer.json({"message": f"token {TOKEN} may not stop this"}, status=403)
        return None

    with proxy_to(emulator, monkeypatch, breaks=breaks), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    (row,) = raised.value.report  # type: ignore[attr-defined]
    assert row["action"] == "stop failed"
    logged = caplog.text + capsys.readouterr().out
    assert "stop failed" in logged and "token *** may not stop this" in logged, logged
    shown = str(raised.value) + json.dumps(raised.value.report) + logged  # type: ignore[attr-defined]
    assert TOKEN not in shown, shown


def test_a_hostile_name_cannot_forge_rows_or_flood_the_error(emulator, client, monkeypatch, caplog, capsys) -> None:
    """Names come from Saturn: a newline or a megabyte in one must not forge table lines or bloat the error."""
    workspace_id = quiet_workspace(emulator, "named")
    name = "x\nfake-row  workspace  someone  9.9h  -  -  -  stopped  forged" + "y" * 100_000

    def rename(items: Resources) -> Resources:
        for item in items:
            if item.get("id") == workspace_id:
                item["name"] = name
        return items

    def breaks(seen: Seen) -> Answer | None:
        if seen.method == "POST" and seen.path.endswith("/stop"):
            return Answer.json({"message": "no"}, status=409)
        return None

    with proxy_to(emulator, monkeypatch, active=rename, breaks=breaks), pytest.raises(SaturnError) as raised:
        run_operator(idle_operator())
    table = report_table(raised.value.report)  # type: ignore[attr-defined]
    logged = caplog.text + capsys.readouterr().out
    assert "fake-row" in logged, "the table was logged, the name cut and escaped"
    for text in (table, logged):
        assert not any(line.startswith("fake-row") for line in text.splitlines()), "a forged row in the task log"
    assert len(str(raised.value)) < 5000, f"the error is {len(str(raised.value))} characters long"
    (row,) = raised.value.report  # type: ignore[attr-defined]
    assert len(row["name"]) <= 80 and "\n" not in row["name"] and row["name"].startswith("x\\nfake-row"), row


# ---------------------------------------------------------------- clocks, windows, the size of the list


@pytest.mark.parametrize(
    ("offset", "idle"), [(60, True), (-60, True), (180, False), (-240, False)], ids=["1m+", "1m-", "3m+", "4m-"]
)
def test_a_cluster_clock_off_is_judged_like_a_workspace_clock(
    saturn_connection, client, offset: int, idle: bool
) -> None:
    """The clock of the attached cluster's metrics counts for its workspace too."""
    emulator = saturn_connection
    workspace_id, cluster_id = workspace_with_cluster(emulator, "skewed")
    _skew(emulator, "dask_cluster", cluster_id, offset)
    report = rows_by_id(run_operator(idle_operator(kinds=["workspace"], dry_run=True)))
    assert (report[workspace_id]["action"] == "would stop") is idle, report[workspace_id]["reason"]


@pytest.mark.parametrize(("last_value", "idle"), [(10, True), (900, False)], ids=["quiet", "busy-at-the-end"])
def test_a_month_long_idle_for_reads_its_coarse_window(saturn_connection, client, last_value: int, idle: bool) -> None:
    emulator = saturn_connection
    (workspace_id,) = emulator.seed(kind="workspace", prefix="monthly", started_ago_seconds=30 * DAYS)["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": [10] * 499 + [last_value]})
    (row,) = run_operator(idle_operator(idle_for=timedelta(days=29), dry_run=True))
    assert (row["action"] == "would stop") is idle, row["reason"]


@pytest.mark.parametrize(("cpu", "idle"), [(10, True), (900, False)])
def test_a_one_minute_idle_for(saturn_connection, client, cpu: int, idle: bool) -> None:
    emulator = saturn_connection
    workspace_id = quiet_workspace(emulator, "minute", cpu=cpu)
    (row,) = run_operator(idle_operator(idle_for=60))
    assert (row["action"] == "stopped") is idle, row["reason"]
    assert (status(client, "workspace", workspace_id) in STOPPED) is idle


def test_a_busy_cluster_on_the_second_page_of_2000_keeps_its_workspace(emulator, client, monkeypatch) -> None:
    """2,000 active resources: the workspace is on the first page, its cluster (naming it) on the second."""
    emulator.seed(kind="workspace", prefix="filler", count=999, started_ago_seconds=3 * HOURS)
    workspace_id, cluster_id = workspace_with_cluster(emulator, "paged", cluster_cpu=900)
    emulator.seed(kind="workspace", prefix="later", count=999, started_ago_seconds=3 * HOURS)
    pages: list[set[str]] = []

    def only_the_clusters_side(items: Resources) -> Resources:
        pages.append({str(item.get("id")) for item in items})
        return [{key: value for key, value in item.items() if key != "dask_cluster"} for item in items]

    with proxy_to(emulator, monkeypatch, active=only_the_clusters_side) as seen:
        report = rows_by_id(run_operator(idle_operator(name_pattern="paged-*", kinds=["workspace"])))
    assert len(pages) == 2 and sum(map(len, pages)) == 2000, [len(page) for page in pages]
    assert workspace_id in pages[0] and cluster_id in pages[1], "the link is only on the second page"
    assert report[workspace_id]["action"] == "kept" and cluster_id in report[workspace_id]["reason"]
    assert stops(seen) == []


# ---------------------------------------------------------------- exclude entries that silently match nothing


@pytest.mark.parametrize("entry", ["keep-*", "['keep-000000']", "tag:keep"], ids=["glob", "rendered-list", "tag-key"])
def test_an_exclude_entry_that_matches_nothing_is_refused(saturn_connection, client, entry: str) -> None:
    """Each entry means what it says (a glob, a rendered list, a tag key): what it names is kept."""
    emulator = saturn_connection
    answer = emulator.seed(kind="workspace", prefix="keep", started_ago_seconds=3 * HOURS, tags={"keep": "yes"})
    (workspace_id,) = answer["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": 10})
    with contextlib.suppress(ValueError):  # refused: as good as kept
        run_operator(idle_operator(exclude=entry))
    assert status(client, "workspace", workspace_id) == "running"
    assert requests_to(emulator, WORKSPACE_STOP) == 0
