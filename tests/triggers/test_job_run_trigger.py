"""The trigger on a job run: follows its log, carries its tail on failure, and a kill stops that run only."""

from __future__ import annotations

import asyncio
import time

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.job_runs import job_run_key
from airflow_provider_saturn.run_logs import TAIL_KEY
from airflow_provider_saturn.triggers import SaturnStatusTrigger
from tests.harness import first_event


def trigger_for(run: dict, **kwargs) -> SaturnStatusTrigger:
    return SaturnStatusTrigger(
        resource_kind="job_run",
        resource_id=job_run_key(run["job_id"], run["run_name"]),
        target_status="completed",
        deadline=time.time() + 20,
        poll_interval=0.05,
        **kwargs,
    )


def test_a_failed_run_s_event_carries_its_log_tail(saturn_connection, client: SaturnClient, capsys) -> None:
    job = client.create_job("tail", "seq 30; echo boom; exit 2")
    run = client.start_job(job["id"])
    event = asyncio.run(first_event(trigger_for(run, follow_logs=True))).payload
    assert event["status"] == "error"
    assert event[TAIL_KEY][-1].endswith("] boom") and len(event[TAIL_KEY]) == 20
    assert "] 30" in capsys.readouterr().out, "the lines went to the task log"


def test_without_follow_logs_no_log_is_read(saturn_connection, client: SaturnClient) -> None:
    job = client.create_job("quiet", "seq 3")
    run = client.start_job(job["id"])
    event = asyncio.run(first_event(trigger_for(run))).payload
    assert event["status"] == "success" and TAIL_KEY not in event
    assert saturn_connection.config.stats.by_route.get("GET /api/jobs/{id}/logs", 0) == 0


def test_a_killed_deferred_task_stops_its_own_run_only(saturn_connection, client: SaturnClient) -> None:
    job = client.create_job("two-runs", "sleep 30")
    mine, other = client.start_job(job["id"]), client.start_job(job["id"])
    asyncio.run(trigger_for(mine, stop_on_kill=True).on_kill())
    assert client.get_job_run(job["id"], mine["run_name"])["status"] in ("stopping", "stopped")
    assert client.get_job_run(job["id"], other["run_name"])["status"] in ("pending", "running")


def test_a_log_cursor_from_the_operator_is_not_read_again(saturn_connection, client: SaturnClient, capsys) -> None:
    job = client.create_job("resume", "echo early; sleep 0.5; echo late")
    run = client.start_job(job["id"])
    time.sleep(saturn_connection.state.transition_seconds + 0.1)
    from airflow_provider_saturn.client.logs import LogCursor

    cursor = LogCursor()
    assert [line["content"] for line in client.job_logs(job["id"], run["run_name"], since=cursor)] == ["early"]
    capsys.readouterr()
    event = asyncio.run(first_event(trigger_for(run, follow_logs=True, log_cursor=cursor.to_json()))).payload
    assert event["status"] == "success"
    out = capsys.readouterr().out
    assert "] late" in out and "] early" not in out
