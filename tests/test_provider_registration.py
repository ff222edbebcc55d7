"""Airflow's providers manager discovers the provider, its hook and its connection type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_saturn import __version__
from airflow_provider_saturn.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[1]


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


def test_provider_info_is_valid_for_the_installed_airflow() -> None:
    """What Airflow validates each provider's info against (its schema has no ``how-to-guide`` on 3.x but lets
    keys through; 2.11's names it)."""
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_how_to_page_is_a_how_to_guide_of_the_integration() -> None:
    (integration,) = get_provider_info()["integrations"]
    guides = integration["how-to-guide"]
    assert all(guide.startswith("/docs/") for guide in guides), "the provider schema asks for /docs/ paths"
    missing = [guide for guide in guides if not (ROOT / guide.lstrip("/")).is_file()]
    assert missing == [], f"how-to guides without a page in docs/: {missing}"
    pages = {f"/docs/howto/{page.name}" for page in (ROOT / "docs" / "howto").glob("*.md")}
    pages -= {"/docs/howto/index.md", "/docs/howto/example-dags.md"}
    assert pages == set(guides), "each how-to page of docs/howto/ is listed once, and nothing else"
    decorators = {decorator["name"] for decorator in get_provider_info()["task-decorators"]}
    assert decorators == {"saturn", "saturn_dask"}
