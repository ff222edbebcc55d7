"""Scheduled shutdown of idle resources: filters, age (required; never guessed), exclusions, dry run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from tests.conftest import requests_to
from tests.harness import run_operator


def _running_project(client: SaturnClient, emulator, name: str, *, hours_ago: float = 0, dask: bool = False) -> dict:
    project = client.create_project(name)
    if dask:
        client.create_dask_cluster(project["id"])
    client.start_jupyter_server(project["id"])
    time.sleep(emulator.state.transition_seconds + 0.05)
    client.get_project(project["id"])  # settles to running
    if hours_ago:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - hours_ago * 3600))
        emulator.state.workspaces[project["id"]].life.started_at = stamp
    return client.get_project(project["id"])


def test_stops_old_servers_and_orphaned_clusters_and_reports_them(saturn_connection, client) -> None:
    emulator = saturn_connection
    old = _running_project(client, emulator, "etl-old", hours_ago=5)
    fresh = _running_project(client, emulator, "etl-fresh")
    kept = _running_project(client, emulator, "etl-keep", hours_ago=5)
    other = _running_project(client, emulator, "web-old", hours_ago=5)
    orphan = client.create_project("etl-orphan")
    cluster = client.create_dask_cluster(orphan["id"])
    client.start_dask_cluster(cluster["id"])

    report = run_operator(
        SaturnStopIdleResourcesOperator(
            task_id="idle", name_pattern="etl-*", older_than=timedelta(hours=2), exclude=["etl-keep"]
        )
    )
    stopped = {(item["kind"], item["id"]) for item in report}
    assert stopped == {("jupyter_server", old["id"]), ("dask_cluster", cluster["id"])}
    assert all(item["action"] == "stopped" for item in report)
    assert client.get_jupyter_server(old["id"])["status"] in ("stopping", "stopped")
    assert client.get_dask_cluster(cluster["id"])["status"] in ("stopping", "stopped")
    for untouched in (fresh, kept, other):
        assert client.get_jupyter_server(untouched["id"])["status"] == "running"


def test_dry_run_reports_and_stops_nothing(saturn_connection, client) -> None:
    old = _running_project(client, saturn_connection, "old", hours_ago=3)
    report = run_operator(SaturnStopIdleResourcesOperator(task_id="idle", older_than=3600, dry_run=True))
    assert report == [
        {
            "project_id": old["id"],
            "project_name": "old",
            "action": "would stop",
            "kind": "jupyter_server",
            "id": old["id"],
            "reason": f"started at {old['started_at']}",
        }
    ]
    assert client.get_jupyter_server(old["id"])["status"] == "running"


def test_nothing_to_stop(saturn_connection, client) -> None:
    client.create_project("stopped-one")
    assert run_operator(SaturnStopIdleResourcesOperator(task_id="idle", older_than=60)) == []


def test_older_than_is_required_and_positive() -> None:
    """No default age: a run with defaults would otherwise stop what a colleague started a second ago."""
    with pytest.raises(Exception, match="missing keyword argument 'older_than'"):  # TypeError; on 2.11 Airflow's
        SaturnStopIdleResourcesOperator(task_id="idle")  # type: ignore[call-arg]
    for bad in (0, -5, timedelta(0)):
        with pytest.raises(ValueError, match="older_than must be positive"):
            SaturnStopIdleResourcesOperator(task_id="idle", older_than=bad)


def test_an_exclude_string_is_one_name_not_its_characters(saturn_connection, client) -> None:
    kept = _running_project(client, saturn_connection, "production-dashboard", hours_ago=5)
    other = _running_project(client, saturn_connection, "p", hours_ago=5)  # one of its characters, as a name
    report = run_operator(
        SaturnStopIdleResourcesOperator(task_id="idle", older_than=3600, exclude="production-dashboard")
    )
    assert [item["project_name"] for item in report] == ["p"]
    assert client.get_jupyter_server(kept["id"])["status"] == "running"
    assert client.get_jupyter_server(other["id"])["status"] in ("stopping", "stopped")


def test_an_exclude_template_rendering_to_a_string_is_one_name(saturn_connection, client) -> None:
    kept = _running_project(client, saturn_connection, "production-dashboard", hours_ago=5)
    operator = SaturnStopIdleResourcesOperator(task_id="idle", older_than=3600, exclude="{{ params.keep }}")
    operator.render_template_fields({"params": {"keep": "production-dashboard"}})
    assert run_operator(operator) == []
    assert client.get_jupyter_server(kept["id"])["status"] == "running"


def test_a_server_without_a_start_time_is_skipped_never_aged_by_its_last_change(saturn_connection, client) -> None:
    """Saturn gives no ``started_at``: its ``updated_at`` (however old) is not taken for a start time."""
    emulator = saturn_connection
    unknown = _running_project(client, emulator, "no-start-time")
    emulator.state.workspaces[unknown["id"]].life.started_at = None
    emulator.state.workspaces[unknown["id"]].updated_at = "2026-01-01T00:00:00+00:00"
    report = run_operator(SaturnStopIdleResourcesOperator(task_id="idle", older_than=3600))
    assert [(item["id"], item["action"]) for item in report] == [(unknown["id"], "skipped")]
    assert "no start time" in report[0]["reason"]
    assert client.get_jupyter_server(unknown["id"])["status"] == "running"
    assert requests_to(emulator, "POST /api/workspaces/{id}/stop") == 0


def test_a_server_that_is_just_starting_is_left_alone(saturn_connection, client) -> None:
    saturn_connection.state.transition_seconds = 30
    starting = client.create_project("starting")
    client.start_jupyter_server(starting["id"])
    report = run_operator(SaturnStopIdleResourcesOperator(task_id="idle", older_than=timedelta(hours=1)))
    assert report == []
    assert client.get_jupyter_server(starting["id"])["status"] == "pending"
