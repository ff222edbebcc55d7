"""A Saturn project managed as code: create it, update it, wait for its server with a sensor, delete it.

Shows: ``SaturnCreateProjectOperator`` with ``if_exists="update"``, ``SaturnUpdateProjectOperator``, a
start that does not wait followed by ``SaturnJupyterServerSensor`` in reschedule mode, and a delete that
tolerates a project already gone.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow_provider_saturn.operators import (
    SaturnCreateProjectOperator,
    SaturnDeleteProjectOperator,
    SaturnStartJupyterOperator,
    SaturnStopJupyterOperator,
    SaturnUpdateProjectOperator,
)
from airflow_provider_saturn.sensors import SaturnJupyterServerSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

POLL_INTERVAL = float(os.environ.get("SATURN_EXAMPLE_POLL_INTERVAL", "10"))
PROJECT = "{{ ti.xcom_pull(task_ids='create_project', key='project_id') }}"

with DAG(
    dag_id="saturn_project_lifecycle",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["saturn", "example"],
) as dag:
    # [START howto_operator_create_project_update]
    create = SaturnCreateProjectOperator(
        task_id="create_project",
        name="lifecycle-demo",
        if_exists="update",
        image_uri="public.ecr.aws/saturncloud/saturn-python:2026.02.01",
        environment_variables={"stage": "test"},
        jupyter_size="medium",
        jupyter_disk_space="10Gi",
    )
    # [END howto_operator_create_project_update]
    # [START howto_operator_update_project]
    update = SaturnUpdateProjectOperator(
        task_id="update_project",
        project_id=PROJECT,
        description="Updated by {{ dag.dag_id }} in run {{ run_id }}",
        jupyter_size="large",
    )
    # [END howto_operator_update_project]
    # [START howto_sensor_jupyter_server]
    start = SaturnStartJupyterOperator(task_id="start_jupyter", jupyter_server_id=PROJECT, wait_for_completion=False)
    wait = SaturnJupyterServerSensor(
        task_id="wait_until_running",
        jupyter_server_id=PROJECT,
        target_status="running",
        mode="reschedule",
        poke_interval=POLL_INTERVAL,
        timeout=20 * 60,
    )
    # [END howto_sensor_jupyter_server]
    stop = SaturnStopJupyterOperator(task_id="stop_jupyter", jupyter_server_id=PROJECT, poll_interval=POLL_INTERVAL)
    # [START howto_operator_delete_project]
    delete = SaturnDeleteProjectOperator(
        task_id="delete_project", project_id=PROJECT, ignore_missing=True, trigger_rule="all_done"
    )
    # [END howto_operator_delete_project]
    create >> update >> start >> wait >> stop >> delete
