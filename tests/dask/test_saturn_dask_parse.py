"""``@task.saturn_dask`` when a DAG is parsed: what it refuses before anything runs, and the signatures it takes."""

from __future__ import annotations

from datetime import datetime

import pytest

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from airflow_provider_saturn.decorators.saturn_dask import _SaturnDaskDecoratedOperator

PROJECT = "0123456789abcdef0123456789abcdef"


def _dag() -> DAG:
    return DAG("saturn_dask_parse", schedule=None, start_date=datetime(2026, 1, 1))


def test_a_function_without_dask_client_is_refused_naming_it():
    def no_client(x):
        return x

    with _dag(), pytest.raises(TypeError, match="add a dask_client parameter to no_client"):
        task.saturn_dask(project_id=PROJECT)(no_client)(1)


def test_the_client_cannot_be_passed_by_the_dag():
    def compute(x, dask_client):
        return x

    with _dag(), pytest.raises(TypeError, match="do not pass it"):
        task.saturn_dask(project_id=PROJECT)(compute)(1, dask_client="mine")


@pytest.mark.parametrize("ids", [{}, {"project_id": PROJECT, "dask_cluster_id": PROJECT}], ids=["neither", "both"])
def test_exactly_one_of_project_and_cluster(ids):
    def compute(dask_client):
        return 1

    with _dag(), pytest.raises(ValueError, match="exactly one of project_id and dask_cluster_id"):
        task.saturn_dask(**ids)(compute)()


def test_missing_arguments_of_the_function_are_still_caught():
    def compute(x, y, dask_client):
        return x + y

    with _dag(), pytest.raises(TypeError, match="y"):
        task.saturn_dask(project_id=PROJECT)(compute)(1)


def test_a_client_before_other_positional_parameters_is_refused_saying_where_it_goes():
    def compute(dask_client, x):
        return x

    with _dag(), pytest.raises(TypeError, match="last positional parameter"):
        task.saturn_dask(project_id=PROJECT)(compute)(1)


def test_a_positional_argument_cannot_fill_the_client():
    def compute(x, dask_client):
        return x

    with _dag(), pytest.raises(TypeError, match="do not pass it"):
        task.saturn_dask(project_id=PROJECT)(compute)(1, 2)


@pytest.mark.parametrize("where", ["only", "last", "last without default", "keyword-only", "**kwargs"])
def test_the_client_may_be_last_or_keyword_only(where):
    sources = {
        "only": "def compute(dask_client):\n    return 1\n",
        "last": "def compute(x, y=2, dask_client=None):\n    return x\n",
        "last without default": "def compute(x, dask_client):\n    return x\n",
        "keyword-only": "def compute(x, *, dask_client, y=2):\n    return x\n",
        "**kwargs": "def compute(x, **kwargs):\n    return x\n",
    }
    namespace: dict = {}
    exec(sources[where], namespace)
    with _dag() as dag:
        arguments = () if where == "only" else (1,)
        task.saturn_dask(project_id=PROJECT, task_id="compute")(namespace["compute"])(*arguments)
    operator = dag.get_task("compute")
    assert isinstance(operator, _SaturnDaskDecoratedOperator)
    assert list(operator.op_args) == list(arguments)


def test_ids_and_connection_are_templated():
    fields = set(_SaturnDaskDecoratedOperator.template_fields)
    assert {"project_id", "dask_cluster_id", "saturn_conn_id", "op_args", "op_kwargs"} <= fields


def test_it_is_registered_as_task_saturn_dask():
    from airflow_provider_saturn.decorators.saturn_dask import saturn_dask_task
    from airflow_provider_saturn.get_provider_info import get_provider_info

    names = {item["name"]: item["class-name"] for item in get_provider_info()["task-decorators"]}
    assert names["saturn_dask"] == "airflow_provider_saturn.decorators.saturn_dask.saturn_dask_task"
    assert task.saturn_dask is saturn_dask_task or task.saturn_dask.__wrapped__ is saturn_dask_task
