"""Airflow's providers manager discovers the provider, its hook and its connection type."""

from __future__ import annotations

import subprocess
import sys

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


def test_airflow_cli_lists_the_provider_and_hook() -> None:
    providers = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    assert "airflow-provider-saturn" in providers
    hooks = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "plain"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    assert "saturn" in hooks
    assert "airflow_provider_saturn.hooks.saturn.SaturnHook" in hooks
