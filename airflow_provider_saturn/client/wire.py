"""The wire format of Saturn API generation 2 ("resources", spec 2026.02.01), in one place.

Maps the seed client's argument names to generation-2 request fields, names the endpoints, and normalises
responses to the shapes the seed promised: every project dict has ``id``, ``name``, ``jupyter_server_id``
and ``dask_cluster_id``; every Jupyter server dict ``id``, ``status`` and ``dask_cluster_id``; every Dask
cluster dict ``id`` and ``status``. All other fields the server sent pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

# Older servers report Dask clusters as ``ready`` / ``closed``.
STATUS_ALIASES = {"ready": "running", "closed": "stopped"}


class Paths:
    """Endpoints of generation 2, relative to the Saturn URL."""

    STATUS = "api/status"
    OPTIONS = "api/info/servers"
    WORKSPACES = "api/workspaces"
    DASK_CLUSTERS = "api/dask_clusters"

    @staticmethod
    def workspace(workspace_id: str, action: str = "") -> str:
        return f"api/workspaces/{workspace_id}" + (f"/{action}" if action else "")

    @staticmethod
    def dask_cluster(dask_cluster_id: str, action: str = "") -> str:
        return f"api/dask_clusters/{dask_cluster_id}" + (f"/{action}" if action else "")


def seed_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    """The seed-named workspace settings among a call's arguments (pass ``locals()``)."""
    return {name: arguments[name] for name in WORKSPACE_FIELDS if name in arguments}


def workspace_body(settings: dict[str, Any]) -> dict[str, Any]:
    """A generation-2 workspace body from seed-named settings; ``None`` values are left out."""
    body: dict[str, Any] = {}
    for argument, value in settings.items():
        if value is None:
            continue
        if argument == "environment_variables":
            value = {str(key).upper(): str(val) for key, val in value.items()}
        body[WORKSPACE_FIELDS[argument]] = value
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


def normalise_status(status: Any) -> Any:
    return STATUS_ALIASES.get(status, status) if isinstance(status, str) else status


def nested_dask_cluster_id(workspace: dict[str, Any]) -> str | None:
    nested = workspace.get("dask_cluster")
    if isinstance(nested, dict) and nested.get("id"):
        return str(nested["id"])
    return workspace.get("dask_cluster_id")


def project_from_workspace(workspace: dict[str, Any]) -> dict[str, Any]:
    """A seed-shaped project dict: a workspace's id is both the project id and the Jupyter server id."""
    project = dict(workspace)
    project["id"] = workspace.get("id")
    project["name"] = workspace.get("name")
    project["jupyter_server_id"] = workspace.get("id")
    project["dask_cluster_id"] = nested_dask_cluster_id(workspace)
    if "status" in project:
        project["status"] = normalise_status(project["status"])
    return project


def jupyter_server_from_workspace(workspace: dict[str, Any]) -> dict[str, Any]:
    """A seed-shaped Jupyter server dict: ``id``, ``status`` and ``dask_cluster_id`` always present."""
    server = dict(workspace)
    server["id"] = workspace.get("id")
    server["status"] = normalise_status(workspace.get("status"))
    server["dask_cluster_id"] = nested_dask_cluster_id(workspace)
    return server


def dask_cluster_from_response(cluster: dict[str, Any]) -> dict[str, Any]:
    """A Dask cluster dict with ``id`` and a generation-2 ``status`` always present."""
    result = dict(cluster)
    result["id"] = cluster.get("id")
    result["status"] = normalise_status(cluster.get("status"))
    return result


def error_message(payload: Any, fallback: str) -> str:
    """Saturn's ``message`` from an error body, or ``fallback`` when the body is not the usual JSON."""
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("detail") or payload.get("error")
        if message:
            return str(message)
    return fallback


@dataclass(frozen=True)
class ResourceWire:
    """How one kind of resource is addressed and read back: the one table both clients dispatch on."""

    label: str  # for error messages
    path: Callable[..., str]  # (id, action="") -> API path
    normalise: Callable[[dict[str, Any]], dict[str, Any]]


RESOURCES: dict[str, ResourceWire] = {
    "jupyter_server": ResourceWire("jupyter server", Paths.workspace, jupyter_server_from_workspace),
    "dask_cluster": ResourceWire("dask cluster", Paths.dask_cluster, dask_cluster_from_response),
}


def resource_wire(kind: str) -> ResourceWire:
    """The wire of ``"jupyter_server"`` or ``"dask_cluster"``."""
    if kind not in RESOURCES:
        raise ValueError(f"resource kind must be one of {list(RESOURCES)}, not {kind!r}")
    return RESOURCES[kind]
