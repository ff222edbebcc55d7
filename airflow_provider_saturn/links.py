"""The "Open in Saturn Cloud" extra link, and the XCom keys operators push before they wait."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.compat import AIRFLOW_V_3, BaseOperatorLink, xcom_value

XCOM_PROJECT_ID = "project_id"
XCOM_JUPYTER_SERVER_ID = "jupyter_server_id"
XCOM_DASK_CLUSTER_ID = "dask_cluster_id"
XCOM_SATURN_URL = "saturn_url"


def saturn_ui_url(saturn_url: str, project_id: str) -> str:
    """The page of a project's workspace in the Saturn UI."""
    return f"{saturn_url.rstrip('/')}/dash/resources/workspace/{project_id}"


class SaturnResourceLink(BaseOperatorLink):
    """Opens the Saturn UI page of the project (workspace) the task acted on."""

    name = "Open in Saturn Cloud"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The Saturn UI URL the task pushed, or ``""`` (quietly) when it pushed none, e.g. it failed first.

        Airflow 3's task runner calls this at the end of every task, failed ones included, and stores the answer
        under :attr:`xcom_key` for the UI; Airflow 2.11's webserver calls it when the task's page is shown.
        """
        return str(xcom_value(key=XCOM_SATURN_URL, ti_key=ti_key) or "")


def push_resource_xcoms(context: Any, *, saturn_url: str, project: dict[str, Any]) -> None:
    """Push the ids and the Saturn UI URL of a project before any wait, so the link works meanwhile."""
    ti = context["ti"]
    ui_url = saturn_ui_url(saturn_url, project["id"])
    ti.xcom_push(key=XCOM_PROJECT_ID, value=project["id"])
    ti.xcom_push(key=XCOM_JUPYTER_SERVER_ID, value=project.get("jupyter_server_id", project["id"]))
    ti.xcom_push(key=XCOM_DASK_CLUSTER_ID, value=project.get("dask_cluster_id"))
    ti.xcom_push(key=XCOM_SATURN_URL, value=ui_url)
    if AIRFLOW_V_3:  # Airflow 3 serves links from this key; it would otherwise be set only when the task ends
        ti.xcom_push(key=SaturnResourceLink().xcom_key, value=ui_url)
