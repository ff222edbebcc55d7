"""OpenLineage, when ``apache-airflow-providers-openlineage`` is installed and enabled (a transport configured):
the Airflow task's lineage parent information passed into a Saturn job run's environment, and a run facet naming
the Saturn resource an operator acted on. Without the provider, or with it disabled, nothing here does anything.

**Parent information** (as the Databricks and Spark providers inject it into their jobs, with the OpenLineage
provider's own macros): ``OPENLINEAGE_PARENT_ID`` and ``OPENLINEAGE_ROOT_PARENT_ID`` (``namespace/job/run id``,
the form OpenLineage's integrations read, e.g. ``dbt-ol``), and each part apart
(``OPENLINEAGE_PARENT_JOB_NAMESPACE``, ``_JOB_NAME``, ``_RUN_ID``, and the same for ``ROOT_PARENT``), so that an
OpenLineage-enabled program in the run reports under the Airflow task. Saturn's start takes no environment, so
they go into the job's ``environment_variables`` (:data:`PARENT_VARIABLES`; the job's other variables are kept).

**The facet**: :class:`~.lineage_facets.SaturnResourceRunFacet` under the key ``saturn``, from the ids and the
UI URL the operator pushed to XCom, noted on the operator as it pushed them (and again when it resumes after a
deferral, from the resource it waited on).

Lineage never fails a task: what cannot be worked out is logged and left out.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PARENT_VARIABLES = (
    "OPENLINEAGE_PARENT_ID",
    "OPENLINEAGE_PARENT_JOB_NAMESPACE",
    "OPENLINEAGE_PARENT_JOB_NAME",
    "OPENLINEAGE_PARENT_RUN_ID",
    "OPENLINEAGE_ROOT_PARENT_ID",
    "OPENLINEAGE_ROOT_PARENT_JOB_NAMESPACE",
    "OPENLINEAGE_ROOT_PARENT_JOB_NAME",
    "OPENLINEAGE_ROOT_PARENT_RUN_ID",
)
FACET_KEY = "saturn"


def openlineage_enabled() -> bool:
    """Whether the OpenLineage provider is installed and enabled (a transport is configured, not disabled)."""
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return False
    try:
        return not conf.is_disabled()
    except Exception as error:  # a broken configuration: lineage is off, the task goes on
        log.warning("OpenLineage is installed but its configuration cannot be read (%s): it is left out", error)
        return False


def inject_by_default() -> bool:
    """``[openlineage] spark_inject_parent_job_info``, the switch the Databricks and Spark providers read too."""
    try:
        from airflow.providers.openlineage import conf

        return bool(conf.spark_inject_parent_job_info())
    except Exception:
        return False


def parent_job_environment(context: Any) -> dict[str, str]:
    """The variables of :data:`PARENT_VARIABLES` for this task instance; empty when OpenLineage is off or they
    cannot be worked out (logged)."""
    if not openlineage_enabled():
        return {}
    try:
        from airflow.providers.openlineage.plugins import macros

        ti = context["ti"]
        parent = (macros.lineage_job_namespace(), macros.lineage_job_name(ti), macros.lineage_run_id(ti))
        root = (
            macros.lineage_root_job_namespace(ti),
            macros.lineage_root_job_name(ti),
            macros.lineage_root_run_id(ti),
        )
    except Exception as error:
        log.warning("Could not work out the OpenLineage parent of this task (%s): the run gets none", error)
        return {}
    values = [str(value) for value in (*parent, *root)]
    return dict(
        zip(
            PARENT_VARIABLES,
            ["/".join(values[:3]), *values[:3], "/".join(values[3:]), *values[3:]],
            strict=True,
        )
    )


def with_parent_job(variables: dict[str, Any] | None, context: Any) -> dict[str, Any] | None:
    """``variables`` with the parent information added (replacing an earlier task's); as they are when there is
    none to add."""
    parent = parent_job_environment(context)
    if not parent:
        return variables
    kept = {name: value for name, value in (variables or {}).items() if name not in PARENT_VARIABLES}
    return {**kept, **parent}


def saturn_lineage(operator: Any) -> Any:
    """The ``OperatorLineage`` of a Saturn operator's try: its run facet, from what the try noted when it pushed
    its ids to XCom (or resumed after a deferral); ``None`` when OpenLineage is not installed or the try acted
    on nothing. (The OpenLineage listener runs it in a fork of the task's process by default, where the task's
    memory is, but XComs cannot be read.)"""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_saturn.lineage_facets import SaturnResourceRunFacet
    except ImportError:
        return None
    pushed = dict(getattr(operator, "_saturn_resource", None) or {})
    kind, resource_id = _resource_of(operator, pushed)
    if resource_id is None:
        return None
    facet = SaturnResourceRunFacet(
        resourceKind=kind,
        resourceId=resource_id,
        runName=pushed.get("run_name"),
        projectId=pushed.get("project_id"),
        url=pushed.get("saturn_url"),
    )
    return OperatorLineage(run_facets={FACET_KEY: facet})


def resumed_ids(kind: str, resource_id: str) -> dict[str, str]:
    """The XCom ids of the resource a deferred wait was on, for an operator that resumes in another process."""
    if kind == "job_run" and "/" in resource_id:
        job_id, run_name = resource_id.split("/", 1)
        return {"job_id": job_id, "run_name": run_name}
    key = {"jupyter_server": "project_id", "dask_cluster": "dask_cluster_id", "deployment": "deployment_id"}.get(kind)
    return {key: resource_id} if key else {}


def _resource_of(operator: Any, pushed: dict[str, str]) -> tuple[str, str | None]:
    """What the try acted on: a job (and its run), a deployment, a Dask cluster, a Jupyter server or a project."""
    if "job_id" in pushed:
        return ("job_run" if "run_name" in pushed else "job"), pushed["job_id"]
    if "deployment_id" in pushed:
        return "deployment", pushed["deployment_id"]
    kind = getattr(operator, "resource_kind", "") or "project"
    if kind == "dask_cluster":
        return kind, pushed.get("dask_cluster_id")
    return kind, pushed.get("project_id")
