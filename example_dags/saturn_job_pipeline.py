"""Run Saturn Jobs while a Saturn Deployment serves them, with each run's log in its task log.

Shows: jobs as code (``SaturnCreateJobOperator`` with ``if_exists="update"``: a rerun applies the command
written here), a deployment started by name and waited for deferrably (``SaturnStartDeploymentOperator``),
two job runs (``SaturnRunJobOperator``) waited for in the triggerer, their lines copied into the task log
as the runs write them, and the deployment stopped afterwards whatever happened (trigger rule
``all_done``), with a watcher task (``one_failed``) that fails the run when a step failed.

The second job fails **on purpose**: it shows what a failed run looks like in Airflow. Its task fails with
Saturn's message (the exit code) followed by the last lines of the run's log (here the ``ValueError``), so
the cause is in the task's error without opening Saturn; the deployment is still stopped, and the watcher
marks the DAG run failed. So a run of this DAG ends ``failed``, with ``run_job`` a success and
``run_failing_job`` failed. In your own pipeline, drop ``create_failing_job`` and ``run_failing_job``.

The deployment (``features-api``) is not created here: the provider has no create-deployment operator,
so it must exist in Saturn beforehand (make it in Saturn's UI, or with the hook's client). The tests and
the demo create it in the Saturn emulator first, through its HTTP API.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow_provider_saturn.operators import (
    SaturnCreateJobOperator,
    SaturnRunJobOperator,
    SaturnStartDeploymentOperator,
    SaturnStopDeploymentOperator,
)

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

# Saturn asks for no more than one status read per resource every 10 s; the demo polls the emulator faster.
POLL_INTERVAL = float(os.environ.get("SATURN_EXAMPLE_POLL_INTERVAL", "10"))
DEPLOYMENT = "features-api"  # created beforehand (see above)

with DAG(
    dag_id="saturn_job_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
    default_args={"retries": 0},
) as dag:
    # [START howto_operator_create_job]
    create_job = SaturnCreateJobOperator(
        task_id="create_or_update_job",
        name="features-refresh",
        command="echo loading features; seq 3; sleep 1; echo done",
        description="Refreshes the features the features-api deployment serves; run by Airflow",
        if_exists="update",
    )
    # [END howto_operator_create_job]
    create_failing_job = SaturnCreateJobOperator(
        task_id="create_failing_job",
        name="features-validate",
        command="echo validating features; echo ValueError: bad row 42; exit 3",
        description="Fails on purpose: how a failed run shows in Airflow",
        if_exists="update",
    )
    # [START howto_operator_start_deployment]
    start_deployment = SaturnStartDeploymentOperator(
        task_id="start_deployment",
        deployment_name=DEPLOYMENT,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=20),
    )
    # [END howto_operator_start_deployment]
    # [START howto_operator_run_job]
    run_job = SaturnRunJobOperator(
        task_id="run_job",
        job_id="{{ ti.xcom_pull(task_ids='create_or_update_job', key='job_id') }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
    )
    # [END howto_operator_run_job]
    run_failing_job = SaturnRunJobOperator(
        task_id="run_failing_job",
        job_id="{{ ti.xcom_pull(task_ids='create_failing_job', key='job_id') }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
    )
    # [START howto_operator_stop_deployment]
    stop_deployment = SaturnStopDeploymentOperator(
        task_id="stop_deployment",
        deployment_name=DEPLOYMENT,
        trigger_rule="all_done",
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_stop_deployment]

    @task(trigger_rule="one_failed", retries=0)
    def fail_run_if_a_step_failed() -> None:
        """The stop succeeds even after a failed job: this keeps the run from being marked a success."""
        raise RuntimeError("A step failed (see its task log); the deployment was stopped all the same.")

    create_job >> run_job
    create_failing_job >> run_failing_job
    start_deployment >> [run_job, run_failing_job] >> stop_deployment
    steps = [create_job, create_failing_job, start_deployment, run_job, run_failing_job]
    steps >> fail_run_if_a_step_failed()
