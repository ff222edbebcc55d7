"""Records to JSON bodies that validate against the spec's ``Workspace``, ``DaskCluster`` and ``Owner`` schemas.

Jobs, runs and deployments are in ``render_workloads.py``; pods and logs in ``render_pods.py``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.owners import Owner
from airflow_provider_saturn.emulator.state import DaskClusterRecord, SaturnState, WorkspaceRecord

HOST = "emulator.saturn.local"


def size_display(size: str) -> str:
    """How the spec's ``size_display`` shows an instance size."""
    spec = catalog.SIZES.get(size)
    return str(spec["display"]) if spec else size


def owner_json(owner: Owner) -> dict[str, Any]:
    return {
        "id": owner.id,
        "name": owner.name,
        "identity_name": owner.identity_name,
        "identity_type": owner.identity_type,
        "org_name": owner.org_name,
        "created_at": owner.created_at,
        "org_admin": owner.org_admin,
        "org_id": owner.org_id,
        "user_id": owner.user_id,
        "group_id": owner.group_id,
        "avatar_url": "",
    }


def dask_cluster_json(record: DaskClusterRecord, state: SaturnState, *, nested: bool = False) -> dict[str, Any]:
    workspace = state.workspaces.get(record.workspace_id)
    life = record.life
    body: dict[str, Any] = {
        "id": record.id,
        "name": workspace.name if workspace else "",
        "resource_type": "dask",
        "tags": dict(record.tags),
        "worker_size": record.worker_size,
        "worker_size_display": size_display(record.worker_size),
        "worker_is_spot": False,
        "scheduler_size": record.scheduler_size,
        "scheduler_size_display": size_display(record.scheduler_size),
        "n_workers": record.n_workers,
        "nprocs": 1,
        "nthreads": record.nthreads,
        "scheduler_url": f"tcp://d-{record.id[:8]}.main-namespace:8786",
        "subdomain": f"d-{record.id[:8]}",
        "image": workspace.settings.get("image_uri", catalog.DEFAULT_IMAGE_URI)
        if workspace
        else catalog.DEFAULT_IMAGE_URI,
        "created_at": record.created_at,
        "status": life.status,
        "warnings": [],
        "errors": [life.message] if life.status == "error" and life.message else [],
        "url": f"https://d-{record.id[:8]}.{HOST}",
    }
    if not nested:
        body.update(
            {
                "owner": owner_json(record.owner),
                "deployment_id": None,
                "job_id": None,
                "workspace_id": record.workspace_id,
            }
        )
    return body


def workspace_json(record: WorkspaceRecord, state: SaturnState) -> dict[str, Any]:
    settings = record.settings
    life = record.life
    cluster = state.dask_clusters.get(record.dask_cluster_id) if record.dask_cluster_id else None
    if cluster is not None:
        state.dask_cluster(cluster.id)  # settle its status before showing it
    subdomain = f"w-{record.id[:8]}"
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "owner": owner_json(record.owner),
        "description": settings.get("description", ""),
        "tags": dict(settings.get("tags") or {}),
        "image_tag": catalog.image_tag(settings.get("image_uri", catalog.DEFAULT_IMAGE_URI)),
        "extra_packages": {"pip": None, "conda": None, "apt": None, "use_mamba": False},
        "config_files": {},
        "ide": "jupyter",
        "start_script": settings.get("start_script"),
        "environment_variables": dict(settings.get("environment_variables", {})),
        "working_dir": settings.get("working_dir", "/home/jovyan/workspace"),
        "disk_space": settings.get("disk_space", "10Gi"),
        "instance_size": settings.get("instance_size", catalog.DEFAULT_SIZE),
        "auto_shutoff": settings.get("auto_shutoff", "1 hour"),
        "start_ssh": settings.get("start_ssh", False),
        "is_spot": False,
        "subdomain": subdomain,
        "start_dind": False,
        "resource_type": "workspace",
        "size_display": size_display(settings.get("instance_size", catalog.DEFAULT_SIZE)),
        "k8s_name": f"workspace-{record.id[:12]}",
        "require_restart": record.require_restart,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "started_at": life.started_at,
        "self_destruct": False,
        "status": life.status,
        "debug_mode": record.debug_mode,
        "url": f"https://{subdomain}.{HOST}/",
        "ssh_url": f"ssh://jovyan@{subdomain}.{HOST}:22" if settings.get("start_ssh") else None,
    }
    if life.status == "error" and life.message:
        # Not in the Workspace schema, which allows extra properties: where the emulator puts the cause.
        body["status_message"] = life.message
    if cluster is not None:
        body["dask_cluster"] = dask_cluster_json(cluster, state, nested=True)
    return body
