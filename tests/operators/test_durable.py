"""``durable``, Airflow's standard switch of crash re-attachment (as ``ResumableJobMixin``'s): ``True`` (the
default) records what a try starts or creates and a retry follows it; ``False`` makes every try start afresh,
recording nothing and taking nothing it finds in Saturn as an earlier try's."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_saturn.client import SaturnClient, SaturnWaitTimeoutError
from airflow_provider_saturn.operators import (
    SaturnCreateJobOperator,
    SaturnCreateProjectOperator,
    SaturnRunJobOperator,
    SaturnStartJupyterOperator,
)
from tests.conftest import requests_to
from tests.harness import DagRunStarted, DictStore, RecordingTI, TryOf, context_for, run_operator


def _retry_context(store: DictStore, try_number: int = 2) -> dict[str, Any]:
    return {**context_for(TryOf(try_number, max_tries=3)), "task_state_store": store}


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_job_run_is_not_re_attached_and_nothing_is_recorded(saturn_connection, client, deferrable) -> None:
    job = client.create_job("not-durable", "sleep 1.5; echo finished")
    store = DictStore()

    def run(**kwargs: Any) -> SaturnRunJobOperator:
        return SaturnRunJobOperator(
            task_id="run", job_id=job["id"], deferrable=deferrable, durable=False, poll_interval=0.05, **kwargs
        )

    with pytest.raises(SaturnWaitTimeoutError):  # the first try dies while its run goes on
        run_operator(run(timeout=0.3, stop_on_failure=False), {**context_for(RecordingTI()), "task_state_store": store})
    assert store.values == {}, "durable=False records nothing"
    result = run_operator(run(timeout=20), _retry_context(store))
    assert result["status"] == "completed"
    assert requests_to(saturn_connection, "POST /api/jobs/{id}/start") == 2, "the retry started a run of its own"
    assert len(client.list_job_runs(job["id"])) == 2


@pytest.mark.parametrize("durable", [True, False])
def test_a_server_an_earlier_try_started_is_the_retrys_own_only_when_durable(
    saturn_connection, client: SaturnClient, durable: bool
) -> None:
    saturn_connection.state.transition_seconds = 60  # it never gets to running here
    project = client.create_project("slow-durable")
    store = DictStore()

    def try_once(context: dict[str, Any], **kwargs: Any) -> None:
        operator = SaturnStartJupyterOperator(
            task_id="start",
            jupyter_server_id=project["id"],
            poll_interval=0.05,
            timeout=0.3,
            deferrable=False,
            durable=durable,
            **kwargs,
        )
        with pytest.raises(SaturnWaitTimeoutError):
            run_operator(operator, context)

    try_once({**context_for(RecordingTI()), "task_state_store": store}, stop_on_failure=False)
    assert (store.values != {}) is durable
    try_once(_retry_context(store))
    status = client.get_jupyter_server(project["id"])["status"]
    if durable:
        assert status in ("stopping", "stopped"), "its own: stopped when the retry fails"
    else:
        assert status == "pending", "not taken as its own, so never stopped"


CREATES = {
    "project": (lambda **kw: SaturnCreateProjectOperator(task_id="create", name="made-twice", **kw), "project"),
    "job": (lambda **kw: SaturnCreateJobOperator(task_id="create", name="made-twice", command="echo", **kw), "job"),
}


@pytest.mark.parametrize("kind", sorted(CREATES))
def test_a_create_does_not_carry_on_with_an_earlier_trys_resource(saturn_connection, kind: str) -> None:
    make, _ = CREATES[kind]
    store = DictStore()
    run_operator(make(durable=False), {**context_for(), "task_state_store": store})
    assert store.values == {}
    with pytest.raises(ValueError, match="already exists"):  # if_exists="fail": the name is taken
        run_operator(make(durable=False), _retry_context(store))
    without_store = {**context_for(TryOf(2)), "dag_run": DagRunStarted(seconds_ago=5)}
    with pytest.raises(ValueError, match="already exists"):  # nor from Saturn's state on an older Airflow
        run_operator(make(durable=False), without_store)


@pytest.mark.parametrize("value", ["False", 0, None, "{{ params.durable }}"])
def test_durable_must_be_a_bool(value: Any) -> None:
    with pytest.raises(TypeError, match="durable must be True or False"):
        SaturnStartJupyterOperator(task_id="start", jupyter_server_id="0" * 32, durable=value)


def test_the_decorators_take_durable_too():
    from datetime import datetime

    try:
        from airflow.sdk import DAG, task
    except ImportError:  # Airflow 2.11
        from airflow import DAG
        from airflow.decorators import task

    def compute(x):
        return x

    def on_cluster(x, dask_client):
        return x

    with DAG("durable_decorators", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        task.saturn(durable=False, task_id="remote")(compute)(1)
        task.saturn_dask(durable=False, project_id="0" * 32, task_id="dask")(on_cluster)(1)
        task.saturn(task_id="remote_default")(compute)(1)
    assert dag.get_task("remote").durable is False
    assert dag.get_task("dask").durable is False
    assert dag.get_task("remote_default").durable is True
