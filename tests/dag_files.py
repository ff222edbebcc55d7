"""DAGs written by a test to a file of their own, loadable and runnable with ``dag.test()`` on both lines."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dag_from_source(source: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``dag`` defined by ``source``, written to ``tmp_path/<name>.py`` in a DAG bundle of its own.

    On Airflow 3, ``dag.test()`` runs only a DAG found in a configured bundle; Airflow 2.11 ignores the setting.
    """
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": f"{name}-tests", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(tmp_path)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def states(dag_run: Any) -> dict[str, str]:
    """Each task instance's state in a DAG run, by task id."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def returned(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """What a task instance of the run pushed to XCom under ``key``."""
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)
