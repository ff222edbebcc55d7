"""Jobs, job runs and deployments to JSON bodies that validate against the spec's ``Job``,
``JobRuntimeSummary`` and ``Deployment`` schemas."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.deployments import DeploymentRecord
from airflow_provider_saturn.emulator.jobs import JobRecord, JobRun
from airflow_provider_saturn.emulator.lifecycle import ACTIVE, Timing
from airflow_provider_saturn.emulator.owners import Owner
from airflow_provider_saturn.emulator.pods import NAMESPACE
from airflow_provider_saturn.emulator.render import HOST, owner_json, size_display

EXTRA_PACKAGES_DEFAULT = {"pip": None, "conda": None, "apt": None, "use_mamba": False}


def _setting(settings: dict[str, Any], key: str, default: Any) -> Any:
    value = settings.get(key)
    return default if value is None else value


def _shared_json(settings: dict[str, Any], owner: Owner) -> dict[str, Any]:
    """The fields jobs and deployments share, from their settings (defaults where unset) and owner."""
    size = _setting(settings, "instance_size", catalog.DEFAULT_SIZE)
    return {
        "owner": owner_json(owner),
        "command": settings["command"],
        "description": _setting(settings, "description", ""),
        "tags": dict(_setting(settings, "tags", {})),
        "instance_size": size,
        "size_display": size_display(size),
        "image_tag": catalog.image_tag(_setting(settings, "image_uri", catalog.DEFAULT_IMAGE_URI)),
        "extra_packages": {**EXTRA_PACKAGES_DEFAULT, **_setting(settings, "extra_packages", {})},
        "config_files": {path: dict(entry) for path, entry in _setting(settings, "config_files", {}).items()},
        "start_script": settings.get("start_script"),
        "environment_variables": dict(_setting(settings, "environment_variables", {})),
        "working_dir": _setting(settings, "working_dir", "/home/jovyan/workspace"),
        "is_spot": _setting(settings, "is_spot", False),
        "start_dind": _setting(settings, "start_dind", False),
        "scale": _setting(settings, "scale", 1),
    }


def job_json(record: JobRecord, timing: Timing) -> dict[str, Any]:
    now = timing.now()
    settings = record.settings
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        **_shared_json(settings, record.owner),
        "retries": _setting(settings, "retries", 0),
        "k8s_name": record.k8s_name,
        "require_restart": record.require_restart,
        "resource_type": "job",
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "last_deploy": record.last_deploy or record.created_at,
        "status": record.status(now),
        "running_count": len(record.active_runs(now)),
        "debug_mode": record.debug_mode,
        "scheduled": settings.get("cron_schedule_options") is not None,
    }
    if settings.get("cron_schedule_options") is not None:
        body["cron_schedule_options"] = dict(settings["cron_schedule_options"])
    return body


def run_summary_json(run: JobRun, timing: Timing) -> dict[str, Any]:
    """A ``JobRuntimeSummary``: one run, as Kubernetes sees the Job behind it."""
    now = timing.now()
    status = run.status(now)
    ended = run.ended_at(now)
    pods = run.pods(now)
    conditions = []
    if ended is not None and status in ("completed", "error"):
        failed = status == "error"
        conditions.append(
            {
                "type": "Failed" if failed else "Complete",
                "status": "True",
                "reason": "Error" if failed else None,
                "message": run.failure_message if failed else None,
                "last_transition_time": timing.stamp(ended),
                "last_probe_time": None,
            }
        )
    return {
        "name": run.name,
        "namespace": NAMESPACE,
        "uid": run.uid,
        "controller_uid": None,
        "controller_kind": None,
        "labels": {"saturncloud.io/resource-id": run.job_id, "job-name": run.name},
        "annotations": {},
        "conditions": conditions,
        "started_at": timing.stamp(run.started),
        "deleted_at": None,
        "status": status,
        "scale": run.scale,
        "running_count": sum(pod.status == "running" for pod in pods),
        "active_count": sum(pod.status in ACTIVE for pod in pods),
        "completed_at": timing.stamp(ended) if ended is not None else None,
    }


def deployment_json(record: DeploymentRecord) -> dict[str, Any]:
    settings = record.settings
    life = record.life
    subdomain = _setting(settings, "subdomain", f"dp-{record.id[:8]}")
    start_ssh = _setting(settings, "start_ssh", False)
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        **_shared_json(settings, record.owner),
        "healthcheck": settings.get("healthcheck"),
        "subdomain": subdomain,
        "start_ssh": start_ssh,
        "k8s_name": record.k8s_name,
        "require_restart": record.require_restart,
        "resource_type": "deployment",
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "last_deploy": record.last_deploy or record.created_at,
        "status": life.status,
        "running_count": record.scale if life.status == "running" else 0,
        "debug_mode": record.debug_mode,
        "url": f"https://{subdomain}.{HOST}/",
        "ssh_url": f"ssh://jovyan@{subdomain}.{HOST}:22" if start_ssh else None,
    }
    if life.status == "error" and life.message:
        # Not in the Deployment schema, which allows extra properties: where the emulator puts the cause.
        body["status_message"] = life.message
    return body
