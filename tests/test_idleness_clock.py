"""The idle rule's clock, window end and worker count (review of issue 14, points 1-4): pure tests of
``idleness.py``. The operator's path over HTTP is in ``tests/operators/test_idle_clock.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_saturn.idleness import (
    CLOCK_TOLERANCE,
    FINE_RESOLUTION,
    Candidate,
    Verdict,
    decide_idle,
    recent_span,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE_FOR = timedelta(hours=2)
STEP = timedelta(seconds=60)
POINTS = int(IDLE_FOR / STEP) + 1


def workspace() -> Candidate:
    return Candidate("workspace", "a" * 32, "ws", "me", {}, NOW - timedelta(days=40))


def dask_cluster(raw: dict[str, Any]) -> Candidate:
    return Candidate("dask_cluster", "b" * 32, "dc", "me", {}, None, raw)


def series(values: list[Any], *, pod: str = "pod-0", end: datetime = NOW, step: timedelta = STEP) -> dict[str, Any]:
    count = len(values)
    data = [
        {"datetime": (end - (count - 1 - index) * step).isoformat(), "value": value}
        for index, value in enumerate(values)
    ]
    return {"pod_name": pod, "labels": {}, "stats": {}, "data": data}


def judge(candidate: Candidate, cpu: list[dict[str, Any]], **kwargs: Any) -> Verdict:
    options: dict[str, Any] = {"now": NOW, "idle_for": IDLE_FOR, "cpu_below": 0.1, "gpu_below": None, **kwargs}
    return decide_idle(candidate, {"cpu": cpu}, **options)


# ---------------------------------------------------------------- points after now


def test_points_after_now_within_the_range_asked_for_are_judged_like_the_others() -> None:
    """A Prometheus range query repeats the last value up to the query's end (5 minutes past now)."""
    repeated = series([10] * (POINTS + 5), end=NOW + timedelta(minutes=5))
    assert judge(workspace(), [repeated]).idle
    busy = series([10] * POINTS + [900] * 5, end=NOW + timedelta(minutes=5))
    verdict = judge(workspace(), [busy])
    assert not verdict.idle and "CPU reached 0.90" in verdict.reason, verdict.reason


def test_a_point_after_the_end_asked_for_is_not_idle() -> None:
    beyond = series([10] * (POINTS + 6), end=NOW + timedelta(minutes=6))
    verdict = judge(workspace(), [beyond], latest_now=NOW - timedelta(seconds=30))
    assert not verdict.idle and "after the end" in verdict.reason, verdict.reason


def test_the_later_now_widens_the_range_asked_for() -> None:
    """Saturn's now is judged in; Airflow's, 10 minutes later, ends the range asked for."""
    later = series([10] * (POINTS + 15), end=NOW + timedelta(minutes=15))
    assert judge(workspace(), [later], latest_now=NOW + timedelta(minutes=10)).idle


# ---------------------------------------------------------------- the Date header


@pytest.mark.parametrize(
    ("skew", "idle"),
    [(timedelta(0), True), (CLOCK_TOLERANCE, True), (CLOCK_TOLERANCE + timedelta(seconds=1), False)],
    ids=["none", "at-the-tolerance", "past-it"],
)
def test_a_metrics_answer_dated_off_the_time_judged_in(skew: timedelta, idle: bool) -> None:
    for sign in (1, -1):
        verdict = judge(workspace(), [series([10] * POINTS)], clock_skew=sign * skew)
        assert verdict.idle is idle, verdict.reason
        if not idle:
            assert ("ahead" if sign > 0 else "behind") in verdict.reason and "Date" in verdict.reason


# ---------------------------------------------------------------- the newest point, coarse and fine


def test_the_newest_point_may_be_one_step_and_the_tolerance_old() -> None:
    step = timedelta(seconds=5011)  # 29 days in 500 points
    idle_for = timedelta(days=29)
    count = int(idle_for / step) + 1

    def at(age: timedelta) -> Verdict:
        pod = series([10] * count, end=NOW - age, step=step)
        pod["data"].insert(0, {"datetime": (NOW - idle_for).isoformat(), "value": 10})
        return judge(workspace(), [pod], idle_for=idle_for, resolution=step)

    assert at(CLOCK_TOLERANCE + step - timedelta(seconds=1)).idle
    late = at(CLOCK_TOLERANCE + step + timedelta(seconds=60))
    assert not late.idle and "newest" in late.reason, late.reason


def coarse_day() -> tuple[timedelta, timedelta, list[dict[str, Any]]]:
    idle_for, step = timedelta(hours=24), timedelta(seconds=172)
    return idle_for, step, [series([10] * (int(idle_for / step) + 1), step=step)]


def test_a_coarse_window_is_judged_with_its_recent_minutes_at_a_fine_resolution() -> None:
    idle_for, step, coarse = coarse_day()
    span = recent_span(step)
    assert span == step + CLOCK_TOLERANCE
    points = int(span / FINE_RESOLUTION) + 1
    quiet = {"cpu": [series([10] * points)]}
    assert judge(workspace(), coarse, idle_for=idle_for, resolution=step, recent=quiet).idle
    spike = {"cpu": [series([10] * (points - 3) + [900, 10, 10])]}
    verdict = judge(workspace(), coarse, idle_for=idle_for, resolution=step, recent=spike)
    assert not verdict.idle and "CPU reached 0.90" in verdict.reason, verdict.reason
    assert verdict.cpu is not None and verdict.cpu.max == pytest.approx(0.9)


@pytest.mark.parametrize(
    "recent",
    [
        {"cpu": []},
        {"cpu": [series([10])]},  # only now
        {"cpu": [series([10] * 5, end=NOW - timedelta(minutes=4))]},
        {"cpu": [series([10] * 4 + [None])]},
        {},
    ],
    ids=["no-series", "short", "stale", "odd-value", "no-cpu"],
)
def test_recent_minutes_that_are_missing_or_odd_are_not_idle(recent: dict[str, Any]) -> None:
    idle_for, step, coarse = coarse_day()
    verdict = judge(workspace(), coarse, idle_for=idle_for, resolution=step, recent=recent)
    assert not verdict.idle and "recent" in verdict.reason, verdict.reason


def test_the_recent_span_is_bounded() -> None:
    assert recent_span(timedelta(days=2)) <= timedelta(hours=6)
    assert recent_span(timedelta(minutes=3)) == timedelta(minutes=5)


# ---------------------------------------------------------------- a Dask cluster's worker count


def test_a_cluster_with_no_workers_is_judged_on_its_scheduler() -> None:
    verdict = judge(dask_cluster({"n_workers": 0}), [series([10] * POINTS, pod="scheduler")])
    assert verdict.idle, verdict.reason


@pytest.mark.parametrize(
    "raw",
    [{}, {"n_workers": None}, {"n_workers": "2"}, {"n_workers": True}, {"n_workers": -1}, {"n_workers": 2.0}],
    ids=["absent", "null", "text", "bool", "negative", "float"],
)
def test_a_cluster_whose_worker_count_is_unreadable_is_not_idle(raw: dict[str, Any]) -> None:
    pods = [series([10] * POINTS, pod=name) for name in ("scheduler", "worker-0", "worker-1")]
    verdict = judge(dask_cluster(raw), pods)
    assert not verdict.idle and "worker count is unreadable" in verdict.reason, verdict.reason
