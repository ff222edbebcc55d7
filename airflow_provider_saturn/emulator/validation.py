"""Request bodies checked as Saturn checks them: a 422 with a message naming the field at fault."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.state import EmulatorError

# Generation-2 writable workspace fields and their JSON types.
WORKSPACE_TYPES: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "image_uri": str,
    "start_script": str,
    "environment_variables": dict,
    "working_dir": str,
    "instance_size": str,
    "disk_space": str,
    "auto_shutoff": str,
    "start_ssh": bool,
    "tags": dict,
}
CHOICES = {
    "instance_size": lambda: list(catalog.SIZES),
    "disk_space": lambda: list(catalog.DISK_SPACE),
    "auto_shutoff": lambda: list(catalog.AUTO_SHUTOFF),
}
IGNORED = frozenset(
    {
        "owner",
        "image_tag_id",
        "image_enforce_trusted",
        "extra_packages",
        "config_files",
        "is_spot",
        "start_dind",
        "subdomain",
        "ide",
        "self_destruct",
        "external_repo_attachments",
    }
)


def _invalid(field: str, problem: str) -> EmulatorError:
    return EmulatorError(422, f"{field}: {problem}")


def _workspace_settings(body: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    value: Any
    for key, value in body.items():
        if key in IGNORED or key == "name":
            continue
        if key not in WORKSPACE_TYPES:
            raise _invalid(key, "unknown field")
        if value is None:
            continue
        expected = WORKSPACE_TYPES[key]
        if not isinstance(value, expected) or (expected is str and isinstance(value, bool)):
            raise _invalid(key, f"must be of type {getattr(expected, '__name__', expected)}")
        if key in CHOICES and value not in CHOICES[key]():
            raise _invalid(key, f"must be one of {CHOICES[key]()}")
        if isinstance(value, dict):  # environment_variables, tags
            if not all(isinstance(v, str) for v in value.values()):
                raise _invalid(key, "values must be strings")
            upper = key == "environment_variables"
            value = {str(name).upper() if upper else str(name): v for name, v in value.items()}
        if key == "description" and len(value) > 2048:
            raise _invalid(key, "at most 2048 characters")
        settings[key] = value
    return settings


def parse_workspace_create(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("name", "required, a non-empty string")
    return name, _workspace_settings(body)


def parse_workspace_update(body: dict[str, Any]) -> dict[str, Any]:
    changes = _workspace_settings(body)
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise _invalid("name", "a non-empty string")
        changes["name"] = body["name"]
    return changes


def parse_dask_cluster_create(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    resource = body.get("resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("workspace_id"), str):
        raise _invalid(
            "resource", "required: {'workspace_id': <id>} (Dask clusters of jobs and deployments are not emulated)"
        )
    settings: dict[str, Any] = {}
    for key, default in (("worker_size", catalog.DEFAULT_SIZE), ("scheduler_size", "medium")):
        value = body.get(key) or default
        if value not in catalog.SIZES:
            raise _invalid(key, f"must be one of {list(catalog.SIZES)}")
        settings[key] = value
    for key, default_count, minimum in (("n_workers", 1, 0), ("nthreads", 2, 1)):
        count = body.get(key, default_count)
        if count is None:
            count = default_count
        if isinstance(count, bool) or not isinstance(count, int) or count < minimum:
            raise _invalid(key, f"must be an integer of at least {minimum}")
        settings[key] = count
    settings["tags"] = parse_tags(body.get("tags"))
    return resource["workspace_id"], settings


def parse_tags(value: Any, field: str = "tags") -> dict[str, str]:
    """A ``tags`` object (string to string); ``None`` means none."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise _invalid(field, "must be an object of strings")
    return dict(value)
