"""Saturn's own client (saturn-client 2026.2.1, from PyPI) lists, starts and stops workspaces here."""

from __future__ import annotations

import subprocess
import sys
import time

import saturn_client

from tests.conftest import TOKEN


def test_saturn_client_lists_starts_and_stops_workspaces(emulator, client) -> None:
    project = client.create_project("from-saturn-client")
    connection = saturn_client.SaturnConnection(url=emulator.url, api_token=TOKEN)
    assert [w["name"] for w in connection.get_all_workspaces()] == ["from-saturn-client"]
    assert connection.start("workspace", project["id"])["status"] == "pending"
    time.sleep(emulator.state.transition_seconds + 0.05)
    assert client.get_jupyter_server(project["id"])["status"] == "running"
    connection.stop("workspace", project["id"])
    assert client.get_jupyter_server(project["id"])["status"] == "stopping"
    assert connection.options["auto_shutoff"][-1] == "Never"


def test_command_line_prints_its_url_once_ready() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_saturn.emulator", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("Saturn emulator serving at http://127.0.0.1:")
        url = line.rsplit(" ", 1)[-1]
        connection = saturn_client.SaturnConnection(url=url, api_token=TOKEN)
        assert connection.get_all_workspaces() == []
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_pytest_plugin_fixture_points_saturn_default_at_a_fresh_emulator(saturn_emulator) -> None:
    from airflow_provider_saturn.hooks import SaturnHook

    hook = SaturnHook()
    assert hook.get_conn().url == saturn_emulator.url
    assert hook.list_projects() == []
    project = hook.create_project("plugin")
    assert saturn_emulator.state.workspaces[project["id"]].name == "plugin"
