"""The emulator's clock for a resource's metrics: its ``Date`` header and points repeated as Prometheus does.

A script's ``clock_offset_seconds`` dates a resource's metrics answer by its clock (the ``Date`` header too),
and ``lookback_seconds`` plays a Prometheus range query: points at the steps after now, up to that lookback and
the query's end, repeat the last value.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.conftest import TOKEN


def get(emulator, path: str, **params: Any) -> requests.Response:
    return requests.get(emulator.url + path, params=params, headers={"Authorization": f"token {TOKEN}"}, timeout=30)


def date_of(answer: requests.Response) -> float:
    dates = [value for name, value in answer.raw.headers.items() if name.lower() == "date"]
    assert len(dates) == 1, f"one Date header, not {dates}"
    return email.utils.parsedate_to_datetime(dates[0]).timestamp()


def workspace(emulator, **script: Any) -> str:
    (workspace_id,) = emulator.seed(kind="workspace", started_ago_seconds=7200)["ids"]
    emulator.set_metrics("workspace", workspace_id, **script)
    return str(workspace_id)


@pytest.mark.parametrize("offset", [0, 600, -900])
def test_a_metrics_answer_is_dated_by_the_resources_clock(emulator, offset: int) -> None:
    workspace_id = workspace(emulator, series={"cpu": 10}, clock_offset_seconds=offset)
    before = time.time()
    answer = get(emulator, f"/api/workspaces/{workspace_id}/metrics", type="cpu")
    after = time.time()
    assert answer.status_code == 200, answer.text
    assert before + offset - 2 <= date_of(answer) <= after + offset + 1
    other = get(emulator, f"/api/workspaces/{workspace_id}")
    assert before - 2 <= date_of(other) <= time.time() + 1, "other answers keep the real time"


def test_every_answer_has_one_date_header(emulator) -> None:
    for answer in (get(emulator, "/api/status"), get(emulator, "/api/nothing-here"), requests.get(emulator.url)):
        date_of(answer)


def _points(emulator, workspace_id: str, end: datetime) -> list[dict[str, Any]]:
    start = end - timedelta(minutes=30)
    params = {"type": "cpu", "start": start.isoformat(), "end": end.isoformat(), "resolution": "60s"}
    answer = get(emulator, f"/api/workspaces/{workspace_id}/metrics", **params)
    assert answer.status_code == 200, answer.text
    (pod,) = answer.json()["cpu"]
    return list(pod["data"])


def test_lookback_repeats_the_last_value_up_to_the_query_end(emulator) -> None:
    workspace_id = workspace(emulator, series={"cpu": [10, 700]}, lookback_seconds=300)  # 700 from mid-window
    now = datetime.now(UTC)
    points = _points(emulator, workspace_id, now + timedelta(minutes=3))
    last = datetime.fromisoformat(points[-1]["datetime"].replace("Z", "+00:00"))
    assert last >= now + timedelta(minutes=2), "points up to the query's end"
    after_now = [point for point in points if point["datetime"] > now.strftime("%Y-%m-%dT%H:%M:%S")]
    assert len(after_now) >= 2 and {point["value"] for point in after_now} == {700}, after_now


def test_lookback_stops_at_its_length(emulator) -> None:
    workspace_id = workspace(emulator, series={"cpu": 10}, lookback_seconds=120)
    now = datetime.now(UTC)
    last = _points(emulator, workspace_id, now + timedelta(minutes=10))[-1]
    moment = datetime.fromisoformat(last["datetime"].replace("Z", "+00:00"))
    assert now + timedelta(seconds=50) <= moment <= now + timedelta(seconds=125), moment


def test_without_lookback_points_stop_at_now(emulator) -> None:
    workspace_id = workspace(emulator, series={"cpu": 10})
    now = datetime.now(UTC)
    last = _points(emulator, workspace_id, now + timedelta(minutes=10))[-1]
    assert datetime.fromisoformat(last["datetime"].replace("Z", "+00:00")) <= now + timedelta(seconds=2)


@pytest.mark.parametrize("bad", [-1, 86_401, True, "300"])
def test_a_bad_lookback_is_refused(emulator, bad: Any) -> None:
    body = {"kind": "workspace", "id": "a" * 32, "series": {"cpu": 1}, "lookback_seconds": bad}
    answer = requests.post(emulator.url + "/_emulator/metrics", json=body, timeout=10)
    assert answer.status_code == 422 and "lookback_seconds" in answer.text, answer.text
