"""Saturn's clock and the idle shutdown: judged by Saturn's ``Date`` header, never by future-dated points alone.

Saturn's metrics come from range queries that, like Prometheus's, repeat the last value at steps after the
newest sample (up to a lookback of 5 minutes): points dated after Airflow's now are normal and judged like the
others. A Saturn clock more than ``CLOCK_TOLERANCE`` off is told by the ``Date`` header of its answers: the list
of active resources sets the time the scan judges in (Saturn's), and a metrics answer dated off that time is not
idle. Over real HTTP against the emulator; a proxy on 127.0.0.1 (``tests/misbehaving_server.py``) plays a Saturn
whose answers carry another ``Date``, or none.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from tests.emulator_proxy import proxy_to
from tests.harness import run_operator
from tests.misbehaving_server import Seen

HOURS = 3600
LOOKBACK = 300  # Prometheus's default lookback: a range query repeats the last sample this long
STOPPED = ("stopping", "stopped")
CLOCK_WARNING = "no readable Date header"


def idle_operator(**kwargs: Any) -> SaturnStopIdleResourcesOperator:
    return SaturnStopIdleResourcesOperator(task_id="idle", **{"idle_for": timedelta(hours=2), **kwargs})


def workspace(emulator: SaturnEmulator, prefix: str, cpu: Any = 10, **script: Any) -> str:
    (workspace_id,) = emulator.seed(kind="workspace", prefix=prefix, started_ago_seconds=3 * HOURS)["ids"]
    emulator.set_metrics("workspace", workspace_id, series={"cpu": cpu}, **script)
    return str(workspace_id)


def rows_by_id(report: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in report}


def metrics_queries(seen: list[Seen]) -> list[dict[str, str]]:
    return [
        {key: values[0] for key, values in parse_qs(urlsplit(request.path).query).items()}
        for request in seen
        if "/metrics" in request.path
    ]


# ---------------------------------------------------------------- points repeated past now, as Prometheus does


def test_points_repeated_up_to_the_query_end_leave_an_idle_workspace_idle(saturn_connection, client) -> None:
    """Synchronised clocks, metrics as a Prometheus range query gives them: points until the query's end."""
    emulator = saturn_connection
    quiet = workspace(emulator, "quiet", lookback_seconds=LOOKBACK)
    busy = workspace(emulator, "busy", cpu=[10] * 50 + [900], lookback_seconds=LOOKBACK)
    report = rows_by_id(run_operator(idle_operator()))
    assert report[quiet]["action"] == "stopped", report[quiet]["reason"]
    assert report[busy]["action"] == "kept" and "CPU reached 0.90" in report[busy]["reason"], report[busy]
    assert client.get_jupyter_server(quiet)["status"] in STOPPED
    assert client.get_jupyter_server(busy)["status"] == "running"


def test_points_repeated_past_now_are_read_for_a_coarse_window_too(saturn_connection, client) -> None:
    """A day's window (172 s steps), and its last minutes read again at 60 s: both repeat past now."""
    emulator = saturn_connection
    answer = emulator.seed(kind="dask_cluster", prefix="day", started_ago_seconds=26 * HOURS, n_workers=1)
    (cluster_id,) = answer["ids"]
    emulator.set_metrics("dask_cluster", cluster_id, series={"cpu": 10}, lookback_seconds=LOOKBACK)
    (row,) = run_operator(idle_operator(idle_for=timedelta(hours=24), dry_run=True))
    assert row["action"] == "would stop", row["reason"]


# ---------------------------------------------------------------- Saturn's Date header


def test_a_saturn_clock_ten_minutes_ahead_is_judged_in_saturns_time(
    emulator, client, monkeypatch, caplog, capsys
) -> None:
    """Every answer dated 10 minutes ahead, the metrics too: the scan asks for and judges Saturn's last two hours."""
    quiet = workspace(emulator, "quiet", clock_offset_seconds=600, lookback_seconds=LOOKBACK)
    busy = workspace(emulator, "busy", cpu=[10] * 50 + [900], clock_offset_seconds=600)
    before = datetime.now(UTC)
    with caplog.at_level(logging.WARNING), proxy_to(emulator, monkeypatch, dates=600) as seen:
        report = rows_by_id(run_operator(idle_operator(dry_run=True)))
    logged = caplog.text + capsys.readouterr().out  # the task log: stdout under Airflow 3's task runner
    assert report[quiet]["action"] == "would stop", report[quiet]["reason"]
    assert report[busy]["action"] == "kept" and "CPU reached 0.90" in report[busy]["reason"], report[busy]
    for query in metrics_queries(seen):
        start = datetime.fromisoformat(query["start"])
        shift = start - (before - timedelta(hours=2))
        assert timedelta(minutes=9) < shift < timedelta(minutes=11), query
    assert "10m ahead" in logged and "Saturn's time" in logged, logged


@pytest.mark.parametrize("date", [None, "not a date", "Tue, 31 Feb 2026 25:61:00 GMT"], ids=["none", "text", "bad"])
def test_without_a_readable_date_future_points_are_judged_and_it_is_logged_once(
    emulator, client, monkeypatch, caplog, capsys, date: str | None
) -> None:
    first = workspace(emulator, "first", lookback_seconds=LOOKBACK)
    second = workspace(emulator, "second", lookback_seconds=LOOKBACK)
    with caplog.at_level(logging.WARNING), proxy_to(emulator, monkeypatch, dates=date):
        report = rows_by_id(run_operator(idle_operator(dry_run=True)))
    out = capsys.readouterr().out
    assert report[first]["action"] == report[second]["action"] == "would stop", report
    said = max(caplog.text.count(CLOCK_WARNING), out.count(CLOCK_WARNING))  # wherever the task log goes
    assert said == 1, caplog.text + out


@pytest.mark.parametrize(("offset", "words"), [(600, "10m ahead"), (-600, "10m behind")])
def test_a_metrics_answer_dated_off_the_scans_time_is_not_idle(
    saturn_connection, client, offset: int, words: str
) -> None:
    """The list of active resources is dated by Airflow's clock, one resource's metrics answer 10 minutes off."""
    emulator = saturn_connection
    skewed = workspace(emulator, "skewed", clock_offset_seconds=offset, lookback_seconds=LOOKBACK)
    fine = workspace(emulator, "fine", lookback_seconds=LOOKBACK)
    report = rows_by_id(run_operator(idle_operator(dry_run=True)))
    assert report[skewed]["action"] == "kept", report[skewed]
    assert words in report[skewed]["reason"] and "Date" in report[skewed]["reason"], report[skewed]["reason"]
    assert report[fine]["action"] == "would stop", report[fine]["reason"]


def test_the_list_dated_ahead_and_a_metrics_answer_not_is_not_idle(emulator, client, monkeypatch) -> None:
    """Saturn's list says its clock is 10 minutes ahead; a metrics answer comes dated by another clock."""
    workspace(emulator, "torn", lookback_seconds=LOOKBACK)

    def dates(seen: Seen) -> float:
        return 0 if "/metrics" in seen.path else 600

    with proxy_to(emulator, monkeypatch, dates=dates):
        (row,) = run_operator(idle_operator(dry_run=True))
    assert row["action"] == "kept" and "10m behind" in row["reason"], row["reason"]


def test_uptime_only_is_judged_in_saturns_time(emulator, client, monkeypatch) -> None:
    """A workspace started 1h55m ago by Airflow's clock is up for 2h05m in Saturn's, 10 minutes ahead."""
    (workspace_id,) = emulator.seed(kind="workspace", prefix="up", started_ago_seconds=115 * 60)["ids"]
    with proxy_to(emulator, monkeypatch, dates=600) as seen:
        (row,) = run_operator(idle_operator(dry_run=True, idle_by="uptime"))
    assert row["id"] == workspace_id and row["action"] == "would stop", row["reason"]
    assert metrics_queries(seen) == []
