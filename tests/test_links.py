"""The "Open in Saturn Cloud" extra link, resolved by real Airflow at the end of real task runs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.compat import AIRFLOW_V_3
from airflow_provider_saturn.links import XCOM_SATURN_URL, SaturnResourceLink
from tests.dag_files import dag_from_source

DAG_ID = "saturn_link_test"
DAG_SOURCE = f"""
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_saturn.operators import SaturnStartJupyterOperator

with DAG({DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    SaturnStartJupyterOperator(
        task_id="start_jupyter", jupyter_server_id="{{{{ dag_run.conf['project_id'] }}}}", retries=0
    )
"""


@pytest.fixture
def link_dag(airflow_db, saturn_connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A one-task DAG (start a Jupyter server named by the run's conf), in a DAG bundle of its own."""
    return dag_from_source(DAG_SOURCE, "saturn_link_dag", tmp_path, monkeypatch)


def run_and_capture(dag: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], **conf: str) -> Any:
    """``dag.test()`` with every log record and all printed output kept; returns (task instance, log text)."""
    caplog.set_level(logging.DEBUG)
    dag_run = dag.test(run_conf=conf)
    printed = capsys.readouterr()
    return dag_run.get_task_instance("start_jupyter"), "\n".join([caplog.text, printed.out, printed.err])


def test_failed_operator_logs_no_xcom_error_from_its_link(link_dag, caplog, capsys) -> None:
    """A task that fails before pushing its XComs: its link is empty, and no "XCom not found" error is logged."""
    ti, log_text = run_and_capture(link_dag, caplog, capsys, project_id="0" * 32)
    assert str(getattr(ti.state, "value", ti.state)) == "failed"
    assert "Saturn has no jupyter server" in log_text, "the task's own error is in the captured log"
    assert "XCom not found" not in log_text
    assert "Failed to push an xcom for task operator extra link" not in log_text
    link = SaturnResourceLink()
    if AIRFLOW_V_3:  # the task runner stored what get_link returned
        assert ti.xcom_pull(task_ids="start_jupyter", key=link.xcom_key) in ("", None)
    else:  # the webserver calls get_link
        assert link.get_link(link_dag.task_dict["start_jupyter"], ti_key=ti.key) == ""


def test_successful_operator_links_to_its_project(link_dag, client: SaturnClient, caplog, capsys) -> None:
    project = client.create_project("linked")
    ti, log_text = run_and_capture(link_dag, caplog, capsys, project_id=project["id"])
    assert str(getattr(ti.state, "value", ti.state)) == "success"
    ui_url = f"{client.url}/dash/resources/workspace/{project['id']}"
    assert ti.xcom_pull(task_ids="start_jupyter", key=XCOM_SATURN_URL) == ui_url
    link = SaturnResourceLink()
    if AIRFLOW_V_3:  # what the task runner resolved through get_link at the task's end
        assert ti.xcom_pull(task_ids="start_jupyter", key=link.xcom_key) == ui_url
    else:
        assert link.get_link(link_dag.task_dict["start_jupyter"], ti_key=ti.key) == ui_url
    assert "XCom not found" not in log_text
