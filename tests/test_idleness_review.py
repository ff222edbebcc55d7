"""The idle rule on odd and hostile metrics (issue 14, points 2 and 4): pure tests of ``idleness.py``.

Each case is a Metrics answer as Saturn could send it; the rule must read anything doubtful as *not idle*.
The operator's own path over HTTP is in ``tests/operators/test_idle_review.py``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_saturn.idleness import Candidate, Verdict, decide_idle
from airflow_provider_saturn.operators.idle import _row, report_table

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE_FOR = timedelta(hours=2)
STEP = timedelta(seconds=60)
POINTS = int(IDLE_FOR / STEP) + 1  # the window at 60 s, both ends included


def workspace(started_ago: timedelta = timedelta(hours=3)) -> Candidate:
    return Candidate("workspace", "a" * 32, "ws", "me", {}, NOW - started_ago)


def dask_cluster(workers: int) -> Candidate:
    return Candidate("dask_cluster", "b" * 32, "ws", "me", {}, None, {"n_workers": workers})


def stamp(moment: datetime) -> str:
    return moment.isoformat()


def series(values: list[Any], *, pod: str = "pod-0", end: datetime = NOW, step: timedelta = STEP) -> dict[str, Any]:
    """One pod's series, ``values`` oldest first, the last at ``end``."""
    count = len(values)
    data = [{"datetime": stamp(end - (count - 1 - index) * step), "value": value} for index, value in enumerate(values)]
    return {"pod_name": pod, "labels": {}, "stats": {}, "data": data}


def judge(candidate: Candidate, cpu: list[dict[str, Any]], **kwargs: Any) -> Verdict:
    return decide_idle(candidate, {"cpu": cpu}, now=NOW, idle_for=IDLE_FOR, cpu_below=0.1, gpu_below=None, **kwargs)


def test_a_quiet_covered_window_is_idle() -> None:
    verdict = judge(workspace(), [series([20] * POINTS)])
    assert verdict.idle, verdict.reason
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.02)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0])
def test_a_value_that_is_not_a_finite_number_of_at_least_0_is_not_idle(bad: float) -> None:
    verdict = judge(workspace(), [series([20] * (POINTS - 1) + [bad])])
    assert not verdict.idle
    assert "not a finite number" in verdict.reason, verdict.reason


def test_a_negative_pod_never_cancels_a_busy_one() -> None:
    busy = series([500] * POINTS, pod="busy")
    negative = series([-1500] * POINTS, pod="negative")
    verdict = judge(dask_cluster(workers=1), [busy, negative])
    assert not verdict.idle, verdict.reason


@pytest.mark.parametrize("huge", [1e300, 10**400], ids=["float", "400-digit-int"])
def test_a_huge_value_is_not_idle_and_prints_bounded(huge: float) -> None:
    verdict = judge(workspace(), [series([20] * (POINTS - 1) + [huge])])
    assert not verdict.idle
    assert len(verdict.reason) < 200, verdict.reason
    table = report_table([_row(verdict, "kept")])
    assert max(len(line) for line in table.splitlines()) < 300, table


def test_a_window_covered_only_at_its_start_is_not_idle() -> None:
    first_five = series([10] * 6, end=NOW - IDLE_FOR + timedelta(minutes=5))
    verdict = judge(workspace(), [first_five])
    assert not verdict.idle, verdict.reason


def test_a_long_gap_inside_the_window_is_not_idle() -> None:
    before = series([10] * 50, end=NOW - timedelta(minutes=71))
    after = series([10] * 51, end=NOW)
    gappy = {**before, "data": before["data"] + after["data"]}  # 20 minutes without a point
    verdict = judge(workspace(), [gappy])
    assert not verdict.idle and "gap" in verdict.reason, verdict.reason


def test_a_gap_of_a_few_steps_is_allowed() -> None:
    whole = series([10] * POINTS)
    whole["data"] = [point for index, point in enumerate(whole["data"]) if index % 3 != 1]  # 2-step gaps
    verdict = judge(workspace(), [whole])
    assert verdict.idle, verdict.reason


def test_pods_a_few_seconds_apart_are_summed_in_one_bucket() -> None:
    pods = [series([80] * POINTS, pod=f"pod-{index}", end=NOW - timedelta(seconds=index)) for index in range(4)]
    verdict = judge(dask_cluster(workers=3), pods)
    assert not verdict.idle, verdict.reason
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.32)


def test_pods_straddling_a_minute_are_still_one_bucket() -> None:
    end = NOW - timedelta(seconds=1)  # 11:59:59 and 12:00:02
    pods = [series([80] * POINTS, pod="a", end=end), series([80] * POINTS, pod="b", end=end + timedelta(seconds=3))]
    verdict = judge(dask_cluster(workers=1), pods)
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.16), verdict.reason


def test_pods_sampled_in_turn_are_summed_in_every_bucket() -> None:
    """Two pods at 0.06 cores, each with every other point missing: no bucket may read 0.06 in total."""
    evens = series([60] * POINTS, pod="evens")
    odds = series([60] * POINTS, pod="odds")
    evens["data"] = evens["data"][::2]
    odds["data"] = odds["data"][1::2]
    verdict = judge(dask_cluster(workers=1), [evens, odds])
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.12), verdict.reason
    assert not verdict.idle


def test_a_newest_point_too_old_is_not_idle() -> None:
    """A Saturn clock ten minutes behind Airflow's: its newest point is dated ten minutes ago."""
    verdict = judge(workspace(), [series([10] * POINTS, end=NOW - timedelta(minutes=10))])
    assert not verdict.idle and "newest" in verdict.reason, verdict.reason


def test_points_dated_in_the_future_beyond_the_tolerance_are_not_idle() -> None:
    """A Saturn clock ten minutes ahead: what it measured last is dated after Airflow's now."""
    verdict = judge(workspace(), [series([10] * (POINTS + 10), end=NOW + timedelta(minutes=10))])
    assert not verdict.idle and "future" in verdict.reason, verdict.reason


def test_recent_activity_dated_a_little_ahead_is_judged() -> None:
    """Within the tolerance, points dated after Airflow's now are recent activity: they count."""
    verdict = judge(workspace(), [series([10] * POINTS + [900], end=NOW + timedelta(minutes=1))])
    assert not verdict.idle and "CPU reached 0.90" in verdict.reason, verdict.reason


def test_a_clock_a_little_behind_is_within_the_tolerance() -> None:
    verdict = judge(workspace(), [series([10] * POINTS, end=NOW - timedelta(seconds=90))])
    assert verdict.idle, verdict.reason


def test_a_start_in_the_future_is_not_idle() -> None:
    verdict = judge(workspace(started_ago=-timedelta(hours=2)), [series([10] * POINTS)])
    assert not verdict.idle
    assert verdict.reason == "start time is in the future"
    assert verdict.up_for is None, "never a negative uptime"
    uptime_only = decide_idle(
        workspace(started_ago=-timedelta(hours=2)),
        None,
        now=NOW,
        idle_for=IDLE_FOR,
        cpu_below=0.1,
        gpu_below=None,
        by_uptime_only=True,
    )
    assert not uptime_only.idle and uptime_only.reason == "start time is in the future"


@pytest.mark.parametrize("bad", [None, "0.01", True, {"v": 1}])
def test_values_that_are_not_numbers_are_not_idle(bad: Any) -> None:
    verdict = judge(workspace(), [series([10] * (POINTS - 1) + [bad])])
    assert not verdict.idle, verdict.reason


def test_timestamps_without_a_zone_are_utc() -> None:
    naive = series([10] * POINTS)
    for point in naive["data"]:
        point["datetime"] = point["datetime"].removesuffix("+00:00")
    assert judge(workspace(), [naive]).idle


def test_a_workspace_knows_its_cluster_from_either_side_of_the_listing() -> None:
    from airflow_provider_saturn.idleness import attached_clusters

    ws_nested, ws_listed, ws_stopped, ws_odd = "1" * 32, "2" * 32, "3" * 32, "4" * 32
    nested_only, listed, stopped, odd = "a" * 32, "b" * 32, "c" * 32, "d" * 32
    items: list[dict[str, Any]] = [
        {"resource_type": "workspace", "id": ws_nested, "dask_cluster": {"id": nested_only, "status": "running"}},
        {"resource_type": "workspace", "id": ws_listed},  # its cluster says so itself
        {"resource_type": "dask", "id": listed, "workspace_id": ws_listed, "n_workers": 2},
        {"resource_type": "workspace", "id": ws_stopped, "dask_cluster": {"id": stopped, "status": "closed"}},
        {"resource_type": "workspace", "id": ws_odd, "dask_cluster": {"id": odd, "status": None}},
    ]
    attached = {workspace: [cluster.id for cluster in found] for workspace, found in attached_clusters(items).items()}
    assert attached == {ws_nested: [nested_only], ws_listed: [listed], ws_odd: [odd]}, "a closed one runs nothing"


def test_a_tiny_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="resolution"):
        judge(workspace(), [series([10] * POINTS)], resolution=timedelta(milliseconds=1))
