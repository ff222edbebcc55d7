"""The code the documentation shows that is not in an example DAG (docs/ includes it between the
``[START name]`` / ``[END name]`` lines), run for real against the Saturn emulator, on both Airflow lines.

Each test runs its snippet as the page shows it, then checks what the snippet did in "Saturn" (the emulator's
state), so a page cannot show code that no longer works.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import TOKEN, point_saturn_default_at
from tests.harness import run_operator
from tests.test_example_dags import load_dag, states

HOURS = 3600


def wait_for(read: Any, status: str, limit: float = 30.0) -> None:
    """Until ``read()["status"]`` is ``status`` (bounded)."""
    deadline = time.monotonic() + limit
    while read()["status"] != status:
        assert time.monotonic() < deadline, f"not {status} after {limit} s"
        time.sleep(0.05)


def test_hook_manages_a_project(saturn_connection: SaturnEmulator, client: SaturnClient) -> None:
    # [START howto_hook_projects]
    from airflow_provider_saturn.hooks import SaturnHook

    hook = SaturnHook()  # saturn_conn_id="saturn_default"
    project = hook.create_project(name="my-project", jupyter_size="large", jupyter_disk_space="50Gi")
    hook.start_jupyter_server(project["jupyter_server_id"])
    cluster = hook.create_dask_cluster(project["id"], n_workers=4, worker_size="xlarge")
    hook.start_dask_cluster(cluster["id"])
    # [END howto_hook_projects]
    wait_for(lambda: client.get_dask_cluster(cluster["id"]), "running")
    assert client.get_jupyter_server(project["id"])["status"] == "running"
    # [START howto_hook_projects_stop_update_delete]
    hook.stop_jupyter_server(project["jupyter_server_id"])  # stops its Dask cluster too
    hook.update_project(project["id"], image_uri="saturncloud/saturn:2026.02.01")
    # [END howto_hook_projects_stop_update_delete]
    wait_for(lambda: client.get_jupyter_server(project["id"]), "stopped")
    wait_for(lambda: client.get_dask_cluster(cluster["id"]), "stopped")
    assert client.get_project(project["id"])["image_tag"]["image_uri"] == "saturncloud/saturn:2026.02.01"
    # [START howto_hook_projects_delete]
    hook.delete_project(project["id"])
    options = hook.options  # sizes, disk spaces, auto-shutoff values
    # [END howto_hook_projects_delete]
    assert client.list_projects() == []
    assert "large" in json.dumps(options)


def test_client_outside_and_inside_saturn(emulator: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    saturn_url, token = emulator.url, TOKEN
    # [START howto_client_outside_saturn]
    from airflow_provider_saturn.client import SaturnClient

    client = SaturnClient(url=saturn_url, api_token=token)  # e.g. https://app.community.saturnenterprise.io
    project = client.create_project(name="without-airflow")
    # [END howto_client_outside_saturn]
    monkeypatch.setenv("SATURN_BASE_URL", emulator.url)  # what Saturn sets in its resources
    monkeypatch.setenv("SATURN_TOKEN", TOKEN)
    # [START howto_client_inside_saturn]
    client = SaturnClient()  # inside Saturn: SATURN_BASE_URL (or BASE_URL) and SATURN_TOKEN
    # [END howto_client_inside_saturn]
    assert [found["id"] for found in client.list_projects()] == [project["id"]]


def test_hook_runs_a_job_and_reads_its_log(saturn_connection: SaturnEmulator, client: SaturnClient) -> None:
    from airflow_provider_saturn.hooks import SaturnHook

    hook = SaturnHook()
    # [START howto_hook_job_logs]
    from airflow_provider_saturn.client.logs import LogCursor

    job = hook.create_job(name="nightly-etl", command="echo extracting; sleep 1; echo loaded 42 rows")
    run = hook.start_job(job["id"])  # the run this start made
    cursor = LogCursor()
    lines = [line["content"] for line in hook.job_logs(job["id"], run["run_name"], since=cursor)]
    # ... later: only the lines written since
    lines += [line["content"] for line in hook.job_logs(job["id"], run["run_name"], since=cursor)]
    # [END howto_hook_job_logs]
    wait_for(lambda: client.get_job_run(job["id"], run["run_name"]), "completed")
    lines += [line["content"] for line in hook.job_logs(job["id"], run["run_name"], since=cursor)]
    assert lines == ["extracting", "loaded 42 rows"], "each line once, in order, across the three reads"


def test_job_operators_with_their_settings(saturn_connection: SaturnEmulator, client: SaturnClient) -> None:
    # [START howto_operator_job_settings]
    from airflow_provider_saturn.operators import SaturnCreateJobOperator, SaturnRunJobOperator

    job = SaturnCreateJobOperator(
        task_id="job",
        name="features-nightly",
        command="echo building features; exit 0",
        if_exists="update",  # "fail" (default) | "reuse" | "update"
        instance_size="large",  # checked against Saturn's sizes before anything is sent
        job_retries=2,  # Saturn retries a failed pod of the run (`retries` stays Airflow's, for the task)
    )
    run = SaturnRunJobOperator(
        task_id="run",
        job_name="features-nightly",  # or job_id="{{ ti.xcom_pull(task_ids='job', key='job_id') }}"
        deferrable=True,
        fetch_logs=True,  # default: the run's log in the task log
        timeout=timedelta(hours=6),  # default 24 hours
        poll_interval=0.2,
    )
    # [END howto_operator_job_settings]
    created = run_operator(job)
    finished = run_operator(run)
    assert finished["status"] == "completed" and finished["job_id"] == created["id"]
    saved = client.get_job(created["id"])
    assert (saved["instance_size"], saved["retries"]) == ("large", 2)


def test_idle_shutdown_with_every_setting(saturn_connection: SaturnEmulator, client: SaturnClient) -> None:
    emulator = saturn_connection
    idle, busy = emulator.seed(kind="workspace", prefix="etl", count=2, started_ago_seconds=3 * HOURS)["ids"]
    (tagged,) = emulator.seed(kind="workspace", prefix="etl-tagged", started_ago_seconds=3 * HOURS, tags={"keep": "1"})[
        "ids"
    ]
    (production,) = emulator.seed(kind="workspace", prefix="production", started_ago_seconds=3 * HOURS)["ids"]
    emulator.set_metrics("workspace", busy, series={"cpu": 900})  # millicores: 0.9 of a core
    # [START howto_operator_idle_every_setting]
    from datetime import timedelta

    from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator

    stop_idle = SaturnStopIdleResourcesOperator(
        task_id="stop_idle",
        idle_for=timedelta(hours=2),  # required: up at least this long, and idle all of it
        cpu_below=0.1,  # cores, summed over the resource's pods (default 0.1)
        gpu_below=None,  # e.g. 0.05 to also require idle GPUs
        kinds=["workspace", "dask_cluster"],  # the default; also "deployment", "job"
        list_by="owner",  # "org" or "account" for admins
        name_pattern="etl-*",
        exclude=["production-*", "tag:keep"],  # name or id globs, tag:key or tag:key=value; "[...]" is read as a list
        dry_run=False,
    )  # returns [{"kind", "id", "name", "owner", "up_for", "cpu_avg", "cpu_max", "gpu_max", "action", "reason"}]
    # [END howto_operator_idle_every_setting]
    report = {row["id"]: row for row in run_operator(stop_idle)}
    assert report[idle]["action"] == "stopped" and report[busy]["action"] == "kept"
    assert production not in report, "outside name_pattern"
    for left_alone in (busy, tagged, production):  # busy, excluded by tag, outside name_pattern
        assert client.get_jupyter_server(left_alone)["status"] == "running"
    assert set(report[idle]) == {
        "kind",
        "id",
        "name",
        "owner",
        "up_for",
        "cpu_avg",
        "cpu_max",
        "gpu_max",
        "action",
        "reason",
    }


def test_dask_cluster_sensor(saturn_connection: SaturnEmulator, client: SaturnClient) -> None:
    project = client.create_project(name="sensed")
    cluster = client.create_dask_cluster(project["id"], n_workers=1)
    client.start_dask_cluster(cluster["id"])
    wait_for(lambda: client.get_dask_cluster(cluster["id"]), "running")
    client.stop_dask_cluster(cluster["id"])
    dask_cluster_id = cluster["id"]
    # [START howto_sensor_dask_cluster]
    from airflow_provider_saturn.sensors import SaturnDaskClusterSensor

    wait_dask = SaturnDaskClusterSensor(
        task_id="wait_dask", dask_cluster_id=dask_cluster_id, target_status="stopped", deferrable=True
    )
    # [END howto_sensor_dask_cluster]
    wait_dask.poke_interval = 0.2
    run_operator(wait_dask)
    assert client.get_dask_cluster(cluster["id"])["status"] == "stopped"


def test_dask_client_without_the_decorator(emulator_dask: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    point_saturn_default_at(emulator_dask.url, monkeypatch)
    with SaturnClient(url=emulator_dask.url, api_token=TOKEN) as client:
        project = client.create_project(name="dask-snippet")
        cluster = client.create_dask_cluster(project["id"], n_workers=1, nthreads=1)
        client.start_dask_cluster(cluster["id"])
        wait_for(lambda: client.get_dask_cluster(cluster["id"]), "running", limit=60)
    project_id, cluster_id = project["id"], cluster["id"]
    # [START howto_dask_client_without_decorator]
    from airflow_provider_saturn.hooks import SaturnHook

    hook = SaturnHook()
    with hook.get_dask_client(project_id=project_id, timeout=30) as client:  # or a cluster id
        total = client.submit(sum, [1, 2, 3]).result()
    hook.dask_cluster_info(cluster_id)  # {"scheduler_address": "tls://...", "dashboard_link": ...}
    hook.dask_security(cluster_id)  # the distributed.Security, to connect yourself
    # [END howto_dask_client_without_decorator]
    assert total == 6
    assert hook.dask_cluster_info(cluster_id)["scheduler_address"].startswith("tls://127.0.0.1:")
    assert type(hook.dask_security(cluster_id)).__name__ == "Security"


def test_emulator_in_python() -> None:
    # [START howto_emulator_in_python]
    from airflow_provider_saturn.emulator import SaturnEmulator

    with SaturnEmulator(token="t", transition_seconds=0.2, tokens={"viewer": "emulator/viewer"}) as saturn:
        ids = saturn.seed(kind="workspace", count=100, started_ago_seconds=7200, tags={"team": "data"})["ids"]
        saturn.set_metrics("workspace", ids[0], series={"cpu": [900, 5]})
        saturn.fail("workspace", ids[1], "Image pull failed")
        saturn.backdate("workspace", ids[2], 3600)
        saturn.configure(run_visibility_delay=1.0)
        saturn.set_faults(error_rate=0.1, drop_rate=0.05, seed=1)  # a flaky network, from here on
        # [END howto_emulator_in_python]
        saturn.set_faults()
        with SaturnClient(url=saturn.url, api_token="t") as client:
            workspaces = client.list_projects()
            assert len(workspaces) == 100
            assert client.get_jupyter_server(ids[1])["status"] == "error"


# On Airflow 3, ``dag.test()`` runs a DAG found in the configured DAGs folder: the tests' is example_dags/.
my_dag = load_dag("saturn_project_lifecycle")


@pytest.mark.usefixtures("airflow_db")  # this repository's tests migrate an SQLite database once
# [START howto_testing_saturn_emulator]
def test_my_dag(saturn_emulator):
    dag_run = my_dag.test()
    assert dag_run.get_state() == "success"
    assert saturn_emulator.state.workspaces == {}  # what the DAG left in "Saturn": it deleted its project
    # [END howto_testing_saturn_emulator]
    assert states(dag_run)["delete_project"] == "success"
    assert saturn_emulator.config.stats.by_route.get("POST /api/workspaces", 0) == 1, "it made one project"
