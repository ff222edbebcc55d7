"""The "Open in Saturn Cloud" extra link, and the XCom keys operators push before they wait."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_provider_saturn.compat import AIRFLOW_V_3, BaseOperatorLink, xcom_value

XCOM_PROJECT_ID = "project_id"
XCOM_JUPYTER_SERVER_ID = "jupyter_server_id"
XCOM_DASK_CLUSTER_ID = "dask_cluster_id"
XCOM_SATURN_URL = "saturn_url"
XCOM_JOB_ID = "job_id"
XCOM_RUN_NAME = "run_name"
XCOM_DEPLOYMENT_ID = "deployment_id"

# The Saturn UI's page of each kind of resource, under <Saturn URL>/dash/resources/.
UI_PAGES = {"workspace": "workspace", "job": "job", "deployment": "deployment"}


def saturn_ui_url(saturn_url: str, resource_id: str, page: str = "workspace") -> str:
    """The page of a resource in the Saturn UI: a project's workspace (default), a job, a deployment."""
    return f"{saturn_url.rstrip('/')}/dash/resources/{UI_PAGES[page]}/{quote(str(resource_id), safe='')}"


class SaturnResourceLink(BaseOperatorLink):
    """Opens the Saturn UI page of what the task acted on: a project's workspace, a job, a deployment."""

    name = "Open in Saturn Cloud"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The Saturn UI URL the task pushed, or ``""`` (quietly) when it pushed none, e.g. it failed first.

        Airflow 3's task runner calls this at the end of every task, failed ones included, and stores the answer
        under :attr:`xcom_key` for the UI; Airflow 2.11's webserver calls it when the task's page is shown.
        """
        return str(xcom_value(key=XCOM_SATURN_URL, ti_key=ti_key) or "")


def push_resource_xcoms(context: Any, *, saturn_url: str, project: dict[str, Any]) -> None:
    """Push the ids and the Saturn UI URL of a project before any wait, so the link works meanwhile."""
    push_link_xcoms(
        context,
        saturn_ui_url(saturn_url, project["id"]),
        {
            XCOM_PROJECT_ID: project["id"],
            XCOM_JUPYTER_SERVER_ID: project.get("jupyter_server_id", project["id"]),
            XCOM_DASK_CLUSTER_ID: project.get("dask_cluster_id"),
        },
    )


def push_link_xcoms(context: Any, ui_url: str, ids: dict[str, Any]) -> None:
    """Push ``ids`` (XCom key -> value) and the Saturn UI URL before any wait, so the link works meanwhile."""
    ti = context["ti"]
    for key, value in ids.items():
        ti.xcom_push(key=key, value=value)
    ti.xcom_push(key=XCOM_SATURN_URL, value=ui_url)
    task = context.get("task") if hasattr(context, "get") else None
    note = getattr(task, "note_saturn_resource", None)
    if callable(note):  # for its OpenLineage facet, read in this process (XComs may not be readable there)
        note(ids, ui_url)
    if AIRFLOW_V_3:  # Airflow 3 serves links from this key; it would otherwise be set only when the task ends
        ti.xcom_push(key=SaturnResourceLink().xcom_key, value=ui_url)
