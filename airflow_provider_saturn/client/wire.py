"""The wire format of Saturn API generation 2 ("resources", spec 2026.02.01), in one place.

Maps the seed client's argument names to generation-2 request fields, names the endpoints, and normalises
responses to the shapes the seed promised: every project dict has ``id``, ``name``, ``jupyter_server_id``
and ``dask_cluster_id``; every Jupyter server dict ``id``, ``status`` and ``dask_cluster_id``; every Dask
cluster, job and deployment dict ``id`` and ``status``. All other fields the server sent pass through
untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_saturn.client.errors import SaturnBadResponseError
from airflow_provider_saturn.client.paths import Paths

__all__ = ["WORKSPACE_FIELDS", "Paths"]

# Seed argument -> generation-2 field of a workspace.
WORKSPACE_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "image_uri": "image_uri",
    "start_script": "start_script",
    "environment_variables": "environment_variables",
    "working_dir": "working_dir",
    "jupyter_size": "instance_size",
    "jupyter_disk_space": "disk_space",
    "jupyter_auto_shutoff": "auto_shutoff",
    "jupyter_start_ssh": "start_ssh",
}

# Other words for generation-2 statuses: older servers report Dask clusters as ``ready`` / ``closed``, and
# Kubernetes' own words for how a job ended (``Complete``, ``Succeeded``, ``Failed``) may reach a run's status.
# Only words that cannot mean anything else; a status in no list is unknown (see ``statuses.decide``).
STATUS_ALIASES = {
    "ready": "running",
    "closed": "stopped",
    "complete": "completed",
    "succeeded": "completed",
    "success": "completed",
    "failed": "error",
    "failure": "error",
}


# Settings of a job, under the names of Saturn's JobCreate (the names Saturn users see in recipes and the UI).
JOB_FIELDS: tuple[str, ...] = (
    "name",
    "command",
    "description",
    "image_uri",
    "instance_size",
    "environment_variables",
    "start_script",
    "working_dir",
    "scale",
    "retries",
    "tags",
    "extra_packages",
    "config_files",
)


def seed_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    """The seed-named workspace settings among a call's arguments (pass ``locals()``)."""
    return {name: arguments[name] for name in WORKSPACE_FIELDS if name in arguments}


def workspace_body(settings: dict[str, Any]) -> dict[str, Any]:
    """A generation-2 workspace body from seed-named settings; ``None`` values are left out."""
    return _body(settings, WORKSPACE_FIELDS)


def job_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    """The job settings among a call's arguments (pass ``locals()``)."""
    return {name: arguments[name] for name in JOB_FIELDS if name in arguments}


def job_body(settings: dict[str, Any]) -> dict[str, Any]:
    """A ``JobCreate`` / ``JobUpdate`` body from job settings; ``None`` values are left out."""
    return _body(settings, {name: name for name in JOB_FIELDS})


def _body(settings: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for argument, value in settings.items():
        if value is None:
            continue
        if argument == "environment_variables":  # Saturn upper-cases the names
            value = {str(key).upper(): str(val) for key, val in value.items()}
        body[fields[argument]] = value
    return body


def dask_cluster_body(
    project_id: str,
    *,
    n_workers: int | None,
    worker_size: str | None,
    scheduler_size: str | None,
    nthreads: int | None,
) -> dict[str, Any]:
    """A generation-2 ``DaskClusterCreate`` body attaching a cluster to the workspace ``project_id``."""
    body: dict[str, Any] = {"resource": {"workspace_id": project_id}}
    optional = {
        "n_workers": n_workers,
        "worker_size": worker_size,
        "scheduler_size": scheduler_size,
        "nthreads": nthreads,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


MAX_MESSAGE_LENGTH = 2000


def normalise_status(status: Any) -> str | None:
    """A generation-2 status string, whatever its case and surrounding blanks, with :data:`STATUS_ALIASES`
    mapped; ``None`` for anything that is not a string."""
    if not isinstance(status, str):
        return None
    folded = status.strip().lower()
    return STATUS_ALIASES.get(folded, folded)


def _optional_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def resource_id_of(resource: dict[str, Any], label: str) -> str:
    """The ``id`` of a resource Saturn sent; a resource without one is a bad answer, not a resource."""
    resource_id = _optional_id(resource.get("id"))
    if resource_id is None:
        # Name the keys only: the values may hold a workspace's environment variables.
        keys = shorten(", ".join(sorted(map(str, resource))), 200)
        raise SaturnBadResponseError(f"Saturn sent a {label} without a string id (keys: {keys or 'none'})")
    return resource_id


def nested_dask_cluster_id(workspace: dict[str, Any]) -> str | None:
    nested = workspace.get("dask_cluster")
    if isinstance(nested, dict) and _optional_id(nested.get("id")):
        return str(nested["id"])
    return _optional_id(workspace.get("dask_cluster_id"))


def project_from_workspace(workspace: dict[str, Any]) -> dict[str, Any]:
    """A seed-shaped project dict: a workspace's id is both the project id and the Jupyter server id."""
    project = dict(workspace)
    project["id"] = resource_id_of(workspace, "project")
    project["name"] = workspace.get("name") if isinstance(workspace.get("name"), str) else None
    project["jupyter_server_id"] = project["id"]
    project["dask_cluster_id"] = nested_dask_cluster_id(workspace)
    if "status" in project:
        project["status"] = normalise_status(project["status"])
    return project


def jupyter_server_from_workspace(workspace: dict[str, Any]) -> dict[str, Any]:
    """A seed-shaped Jupyter server dict: ``id``, ``status`` and ``dask_cluster_id`` always present."""
    server = dict(workspace)
    server["id"] = resource_id_of(workspace, "Jupyter server")
    server["status"] = normalise_status(workspace.get("status"))
    server["dask_cluster_id"] = nested_dask_cluster_id(workspace)
    return server


def _with_id_and_status(resource: dict[str, Any], label: str) -> dict[str, Any]:
    result = dict(resource)
    result["id"] = resource_id_of(resource, label)
    result["status"] = normalise_status(resource.get("status"))
    return result


def dask_cluster_from_response(cluster: dict[str, Any]) -> dict[str, Any]:
    """A Dask cluster dict with ``id`` and a generation-2 ``status`` always present."""
    return _with_id_and_status(cluster, "Dask cluster")


def job_from_response(job: dict[str, Any]) -> dict[str, Any]:
    """A Job dict with ``id`` and ``status`` always present (the status of its latest run, or ``stopped``)."""
    return _with_id_and_status(job, "job")


def deployment_from_response(deployment: dict[str, Any]) -> dict[str, Any]:
    """A Deployment dict with ``id`` and ``status`` always present."""
    return _with_id_and_status(deployment, "deployment")


def shorten(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """``text`` cut to ``limit`` characters, saying so: a server's words are bounded in our messages."""
    return text if len(text) <= limit else f"{text[: limit - 15]}... [truncated]"


def listed(texts: Sequence[str], most: int) -> str:
    """The first ``most`` of ``texts`` for a message, joined with commas, and how many more there are."""
    shown = ", ".join(texts[:most])
    return shown + (f" and {len(texts) - most} more" if len(texts) > most else "")
