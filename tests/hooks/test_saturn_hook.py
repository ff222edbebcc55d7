"""SaturnHook: credentials from an Airflow connection or the Saturn environment, test_connection, masking."""

from __future__ import annotations

import json

import pytest

from airflow_provider_saturn.client import SaturnAuthError
from airflow_provider_saturn.compat import AirflowNotFoundException
from airflow_provider_saturn.hooks import SaturnHook
from tests.conftest import FAST_RETRY, TOKEN

SEED_OPERATIONS = [
    "list_projects",
    "get_project",
    "create_project",
    "update_project",
    "delete_project",
    "get_jupyter_server",
    "start_jupyter_server",
    "stop_jupyter_server",
    "start_dask_cluster",
    "stop_dask_cluster",
    "get_dask_cluster",
    "create_dask_cluster",
    "get_resource",
    "stop_resource",
    "list_jobs",
    "get_job",
    "find_job_by_name",
    "create_job",
    "update_job",
    "delete_job",
    "start_job",
    "list_job_runs",
    "get_job_run",
    "stop_job",
    "stop_job_run",
    "job_logs",
    "list_deployments",
    "get_deployment",
    "find_deployment_by_name",
    "start_deployment",
    "stop_deployment",
]


def _redact(text: str) -> str:
    try:
        from airflow.sdk.execution_time import secrets_masker
    except ImportError:  # Airflow 2.11
        from airflow.utils.log import secrets_masker  # type: ignore[no-redef]
    return str(secrets_masker.redact(text))


@pytest.fixture
def saturn_conn(emulator, monkeypatch) -> str:
    conn = {"conn_type": "saturn", "host": emulator.url, "password": TOKEN, "extra": {"timeout": 7}}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(conn))
    return "saturn_default"


def test_hook_from_an_airflow_connection_runs_every_seed_operation(saturn_conn, emulator) -> None:
    hook = SaturnHook(retry=FAST_RETRY)
    assert hook.get_conn().timeout == 7
    assert "large" in hook.options["sizes"]
    project = hook.create_project(name="via-hook", jupyter_size="large")
    assert hook.get_project(project["id"])["name"] == "via-hook"
    assert [p["id"] for p in hook.list_projects()] == [project["id"]]
    hook.update_project(project["id"], description="updated")
    cluster = hook.create_dask_cluster(project["id"], n_workers=2)
    assert hook.start_jupyter_server(project["jupyter_server_id"])["status"] == "pending"
    assert hook.get_jupyter_server(project["jupyter_server_id"])["dask_cluster_id"] == cluster["id"]
    assert hook.start_dask_cluster(cluster["id"])["status"] == "pending"
    assert hook.get_dask_cluster(cluster["id"])["id"] == cluster["id"]
    assert hook.stop_dask_cluster(cluster["id"])["status"] == "stopping"
    assert hook.stop_jupyter_server(project["jupyter_server_id"])["status"] == "stopping"
    hook.delete_project(project["id"], allow_active=True)
    assert hook.list_projects() == []


def test_hook_offers_every_seed_operation_with_the_clients_signature() -> None:
    import inspect

    from airflow_provider_saturn.client import SaturnClient

    for name in SEED_OPERATIONS:
        assert inspect.signature(getattr(SaturnHook, name)) == inspect.signature(getattr(SaturnClient, name)), name
        assert getattr(SaturnHook, name).__doc__ == getattr(SaturnClient, name).__doc__


def test_connection_uri_with_host_port_and_prefix(emulator, monkeypatch) -> None:
    host, port = emulator.host, emulator.port
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_URI", f"saturn://:{TOKEN}@{host}:{port}/?scheme=http")
    hook = SaturnHook("saturn_uri")
    assert hook.get_conn().url == emulator.url
    assert hook.get_status()["status"] == "ok"


def test_token_is_registered_with_the_secret_masker(saturn_conn) -> None:
    SaturnHook().get_conn()
    assert TOKEN not in _redact(f"token {TOKEN}")


def test_test_connection_checks_url_and_token(saturn_conn, emulator, monkeypatch) -> None:
    ok, message = SaturnHook().test_connection()
    assert ok
    assert "2026.02.01" in message
    wrong = {"conn_type": "saturn", "host": emulator.url, "password": "wrong-token"}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_WRONG", json.dumps(wrong))
    ok, message = SaturnHook("saturn_wrong", retry=FAST_RETRY).test_connection()
    assert not ok
    assert "token was rejected" in message
    assert "wrong-token" not in message


def test_inside_saturn_the_environment_stands_in_for_a_missing_connection(emulator, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SATURN_DEFAULT", raising=False)
    monkeypatch.setenv("SATURN_BASE_URL", emulator.url)
    monkeypatch.setenv("SATURN_TOKEN", TOKEN)
    hook = SaturnHook()
    assert hook.get_conn().url == emulator.url
    assert hook.list_projects() == []


def test_missing_connection_without_environment_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SATURN_NOWHERE", raising=False)
    with pytest.raises(AirflowNotFoundException, match="saturn_nowhere"):
        SaturnHook("saturn_nowhere").get_conn()


def test_connection_errors_propagate_as_auth_errors(emulator, monkeypatch) -> None:
    wrong = {"conn_type": "saturn", "host": emulator.url, "password": "nope"}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_NOPE", json.dumps(wrong))
    with pytest.raises(SaturnAuthError):
        SaturnHook("saturn_nope").list_projects()


def test_connection_form_behaviour() -> None:
    behaviour = SaturnHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "Saturn URL", "password": "API token"}
    assert {"schema", "port", "login"} <= set(behaviour["hidden_fields"])
    assert behaviour["placeholders"]["host"].startswith("https://")


@pytest.mark.parametrize("prefix", ["", "extra__saturn__"])
def test_form_fields_set_timeout_and_attempts(emulator, monkeypatch, prefix: str) -> None:
    extra = {f"{prefix}timeout": 12, f"{prefix}max_attempts": "2"}
    conn = {"conn_type": "saturn", "host": emulator.url, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_FORM", json.dumps(conn))
    client = SaturnHook("saturn_form").get_conn()
    assert client.timeout == 12
    assert client.retry_policy.max_attempts == 2
