"""Scheduled shutdown of resources that are really idle: up long enough, and CPU (and GPU) that stayed low,
from one scan of Saturn's active resources and their metrics. Over real HTTP against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.operators import SaturnStopIdleResourcesOperator
from tests.conftest import requests_to
from tests.harness import run_operator

HOURS = 3600


def seed(emulator: SaturnEmulator, kind: str, prefix: str, *, hours_ago: float = 3, **more: Any) -> list[str]:
    answer = emulator.seed(kind=kind, prefix=prefix, started_ago_seconds=hours_ago * HOURS, **more)
    return list(answer["ids"])


def idle_operator(**kwargs: Any) -> SaturnStopIdleResourcesOperator:
    return SaturnStopIdleResourcesOperator(task_id="idle", **{"idle_for": timedelta(hours=2), **kwargs})


def by_name(report: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in report}


def test_idle_means_up_long_enough_with_low_cpu(saturn_connection, client: SaturnClient) -> None:
    emulator = saturn_connection
    idle, busy, spiky, blind, one_pod_blind = seed(emulator, "workspace", "ws", count=5)
    (fresh,) = seed(emulator, "workspace", "new", hours_ago=0.2)
    emulator.set_metrics("workspace", idle, series={"cpu": 20})
    emulator.set_metrics("workspace", busy, series={"cpu": 800})
    emulator.set_metrics("workspace", spiky, series={"cpu": [10] * 9 + [900]})
    emulator.set_metrics("workspace", blind, missing=True)
    emulator.set_metrics("workspace", fresh, series={"cpu": 5})
    (cluster,) = seed(emulator, "dask_cluster", "dask", n_workers=2)
    emulator.set_metrics("dask_cluster", cluster, series={"cpu": 10}, missing_pods=["worker-1"])
    emulator.set_metrics("workspace", one_pod_blind, series={"cpu": 10})

    report = by_name(run_operator(idle_operator(cpu_below=0.1)))
    assert report["ws-000000"]["action"] == "stopped"
    assert report["ws-000000"]["cpu_max"] == pytest.approx(0.02)
    assert report["ws-000001"]["action"] == "kept" and "CPU reached 0.80" in report["ws-000001"]["reason"]
    assert report["ws-000002"]["action"] == "kept" and "CPU reached 0.90" in report["ws-000002"]["reason"]
    assert report["ws-000003"]["action"] == "kept" and "no metrics" in report["ws-000003"]["reason"]
    assert report["new-000000"]["action"] == "kept" and "only" in report["new-000000"]["reason"]
    (dask_row,) = [row for row in report.values() if row["kind"] == "dask_cluster"]
    assert dask_row["action"] == "kept" and "no metrics for pod" in dask_row["reason"]
    assert client.get_jupyter_server(idle)["status"] in ("stopping", "stopped")
    for kept in (busy, spiky, blind, fresh):
        assert client.get_jupyter_server(kept)["status"] == "running"
    assert requests_to(emulator, "GET /api/active/resources") == 1, "one scan (under a thousand resources)"
    assert requests_to(emulator, "GET /api/workspaces/{id}/metrics") == 6


def test_a_dask_cluster_counts_its_scheduler_and_workers(saturn_connection, client) -> None:
    emulator = saturn_connection
    quiet, summed = seed(emulator, "dask_cluster", "dask", count=2, n_workers=3)
    emulator.set_metrics("dask_cluster", quiet, series={"cpu": 20})  # 4 pods x 0.02 = 0.08 cores
    emulator.set_metrics("dask_cluster", summed, series={"cpu": 30})  # 4 pods x 0.03 = 0.12 cores
    report = {row["id"]: row for row in run_operator(idle_operator(cpu_below=0.1, dry_run=True))}
    assert report[quiet]["action"] == "would stop"
    assert report[quiet]["cpu_max"] == pytest.approx(0.08)
    assert report[summed]["action"] == "kept", "each pod is quiet, together they are not"
    assert client.get_dask_cluster(quiet)["status"] == "running", "a dry run stops nothing"


def test_every_kind_when_asked_for(saturn_connection, client) -> None:
    emulator = saturn_connection
    ids = {kind: seed(emulator, kind, kind.replace("_", "-"))[0] for kind in ("deployment", "job", "workspace")}
    for kind, resource_id in ids.items():
        emulator.set_metrics(kind, resource_id, series={"cpu": 5})
    default = {row["kind"] for row in run_operator(idle_operator(dry_run=True))}
    assert default == {"workspace"}, "deployments and jobs only when asked for"
    report = run_operator(idle_operator(kinds=["deployment", "job"]))
    assert {row["kind"]: row["action"] for row in report} == {"deployment": "stopped", "job": "stopped"}
    assert client.get_deployment(ids["deployment"])["status"] in ("stopping", "stopped")


def test_gpu_below(saturn_connection) -> None:
    emulator = saturn_connection
    cool, warm, no_gpu = seed(emulator, "workspace", "gpu", count=3, instance_size="g4dnxlarge")
    emulator.set_metrics("workspace", cool, series={"cpu": 5, "gpu": 1})
    emulator.set_metrics("workspace", warm, series={"cpu": 5, "gpu": 600})
    emulator.set_metrics("workspace", no_gpu, series={"cpu": 5}, missing=["gpu"])
    report = {row["id"]: row for row in run_operator(idle_operator(gpu_below=0.1, dry_run=True))}
    assert report[cool]["action"] == "would stop"
    assert report[warm]["action"] == "kept" and "GPU reached" in report[warm]["reason"]
    assert report[no_gpu]["action"] == "kept" and "GPU: no metrics" in report[no_gpu]["reason"]


def test_exclude_by_name_id_and_tag_and_the_name_pattern(saturn_connection) -> None:
    emulator = saturn_connection
    (prod,) = seed(emulator, "workspace", "etl-prod", tags={"team": "prod"})
    named, by_id, plain = seed(emulator, "workspace", "etl", count=3)
    (other,) = seed(emulator, "workspace", "web")
    exclude = ["tag:team=prod", "etl-000000", by_id]
    report = by_name(run_operator(idle_operator(name_pattern="etl*", exclude=exclude, dry_run=True)))
    assert report["etl-prod-000000"]["action"] == "excluded"
    assert report["etl-prod-000000"]["reason"] == "excluded by 'tag:team=prod'"
    assert report["etl-000000"]["action"] == report["etl-000001"]["action"] == "excluded"
    assert report["etl-000002"]["action"] == "would stop"
    assert "web-000000" not in report
    assert {prod, named, plain, other}  # all made


def test_an_exclude_string_is_one_name_not_its_characters(saturn_connection) -> None:
    seed(saturn_connection, "workspace", "production-dashboard")
    operator = idle_operator(exclude="production-dashboard-000000", dry_run=True)
    assert [row["action"] for row in run_operator(operator)] == ["excluded"]


def test_list_by_owner_org_and_account(saturn_connection) -> None:
    emulator = saturn_connection
    seed(emulator, "workspace", "mine")
    seed(emulator, "workspace", "colleague", owner="emulator/alice")
    seed(emulator, "workspace", "elsewhere", owner="acme/bob")
    names = {
        level: sorted(row["name"] for row in run_operator(idle_operator(list_by=level, dry_run=True)))
        for level in ("owner", "org", "account")
    }
    assert names["owner"] == ["mine-000000"]
    assert names["org"] == ["colleague-000000", "mine-000000"]
    assert names["account"] == ["colleague-000000", "elsewhere-000000", "mine-000000"]


def test_a_token_that_may_not_list_an_org_fails_clearly(monkeypatch) -> None:
    from airflow_provider_saturn.client import SaturnAuthError

    with SaturnEmulator(token="admin", tokens={"member": "emulator/carol"}, transition_seconds=0.1) as saturn:
        connection = {"conn_type": "saturn", "host": saturn.url, "password": "member"}
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
        with pytest.raises(SaturnAuthError, match="not allowed"):
            run_operator(idle_operator(list_by="org"))


def test_uptime_only_stays_possible_and_never_guesses(saturn_connection, client) -> None:
    emulator = saturn_connection
    old, young = seed(emulator, "workspace", "up", count=2)
    emulator.state.workspaces[young].life.started_at = None
    emulator.set_metrics("workspace", old, series={"cpu": 3000})
    report = {row["id"]: row for row in run_operator(idle_operator(idle_by="uptime"))}
    assert report[old]["action"] == "stopped", "busy, but up long enough is all uptime asks"
    assert report[young]["action"] == "kept" and "never guessed" in report[young]["reason"]
    assert requests_to(emulator, "GET /api/workspaces/{id}/metrics") == 0
    legacy = SaturnStopIdleResourcesOperator(task_id="legacy", older_than=7200)
    assert (legacy.idle_by, legacy.idle_for) == ("uptime", 7200.0)


def test_arguments_are_checked(saturn_connection) -> None:
    with pytest.raises(ValueError, match="idle_for is required"):
        SaturnStopIdleResourcesOperator(task_id="x")
    for bad in ({"cpu_below": 0}, {"kinds": ["projects"]}, {"list_by": "team"}, {"idle_by": "vibes"}):
        with pytest.raises(ValueError):
            idle_operator(**bad)


def test_the_report_is_a_table_in_the_task_log(saturn_connection, capsys) -> None:
    (idle,) = seed(saturn_connection, "workspace", "tabled")
    saturn_connection.set_metrics("workspace", idle, series={"cpu": 20})
    run_operator(idle_operator(dry_run=True))
    out = capsys.readouterr().out
    assert "name" in out and "CPU max" in out and "tabled-000000" in out and "would stop" in out


SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "idle": ({"series": {"cpu": 10}}, "stopped"),
    "busy": ({"series": {"cpu": 900}}, "kept"),
    "spiky": ({"series": {"cpu": [5] * 19 + [950]}}, "kept"),
    "missing": ({"missing": True}, "kept"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", ["workspace", "dask_cluster", "deployment", "job"])
def test_each_kind_with_each_shape_of_metrics(saturn_connection, kind: str, shape: str) -> None:
    emulator = saturn_connection
    extra = {"scale": 2} if kind == "deployment" else {}
    (resource,) = seed(emulator, kind, f"{kind.replace('_', '-')}-{shape}", **extra)
    script, expected = SHAPES[shape]
    emulator.set_metrics(kind, resource, **script)
    (row,) = run_operator(idle_operator(kinds=[kind], cpu_below=0.1))
    assert (row["id"], row["action"]) == (resource, expected), row["reason"]


@pytest.mark.parametrize("kind", ["dask_cluster", "deployment"])
def test_one_pod_without_metrics_means_not_idle(saturn_connection, kind: str) -> None:
    emulator = saturn_connection
    (resource,) = seed(emulator, kind, "partial", **({"n_workers": 2} if kind == "dask_cluster" else {"scale": 2}))
    silent_pod = "worker-1" if kind == "dask_cluster" else "replica-1"
    emulator.set_metrics(kind, resource, series={"cpu": 5}, missing_pods=[silent_pod])
    (row,) = run_operator(idle_operator(kinds=[kind], dry_run=True))
    assert row["action"] == "kept" and "no metrics for pod" in row["reason"]
