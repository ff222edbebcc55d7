"""Airflow's providers manager discovers the provider, its hook and its connection type."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_saturn import __version__


def test_providers_manager_sees_the_provider_and_its_hook() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    provider = manager.providers["airflow-provider-saturn"]
    assert provider.version == __version__
    hook = manager.hooks["saturn"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_saturn.hooks.saturn.SaturnHook"
    assert hook.connection_id_attribute_name == "saturn_conn_id"
    behaviour = manager.field_behaviours["saturn"]
    assert behaviour["relabeling"]["host"] == "Saturn URL"
    widgets = manager.connection_form_widgets
    assert {"extra__saturn__timeout", "extra__saturn__max_attempts"} <= set(widgets)


def airflow_cli(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "plain"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout


def test_airflow_cli_lists_the_provider_hook_and_link() -> None:
    assert "airflow-provider-saturn" in airflow_cli("providers", "list")
    hooks = airflow_cli("providers", "hooks")
    assert "saturn" in hooks
    assert "airflow_provider_saturn.hooks.saturn.SaturnHook" in hooks
    assert "airflow_provider_saturn.links.SaturnResourceLink" in airflow_cli("providers", "links")


def test_airflow_api_serves_the_connection_form(airflow_db, monkeypatch) -> None:
    """Airflow 3 serves connection forms to its UI at ``/ui/connections/hook_meta``."""
    from airflow_provider_saturn.compat import AIRFLOW_V_3

    if not AIRFLOW_V_3:
        pytest.skip("Airflow 2.11 renders the form in the Flask webserver from get_ui_field_behaviour")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    response = TestClient(create_app()).get("/ui/connections/hook_meta")
    assert response.status_code == 200
    (saturn,) = [item for item in response.json() if item["connection_type"] == "saturn"]
    assert saturn["hook_name"] == "Saturn Cloud"
    fields = saturn["standard_fields"]
    assert (fields["host"]["title"], fields["password"]["title"]) == ("Saturn URL", "API token")
    assert fields["login"]["hidden"] and fields["port"]["hidden"]
    extra_fields = saturn["extra_fields"]
    assert extra_fields["timeout"]["schema"]["title"] == "Request timeout (seconds)"
    assert extra_fields["max_attempts"]["value"] == 5
