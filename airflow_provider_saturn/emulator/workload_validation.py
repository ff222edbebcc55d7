"""Job and deployment request bodies checked as Saturn checks them: a 422 with a message naming the field.

``JobCreate``/``JobUpdate``/``DeploymentCreate``/``DeploymentUpdate`` and their ``start`` bodies. A ``null``
for an optional field means its default. The command must be a script the emulator can run (``script.py``);
in runner mode (``runner.py``) a job's command is any shell command, and its ``config_files`` and relative
``working_dir`` must stay in ``$HOME`` (``pod_home.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.pod_home import ConfigFileError, check_config_files, check_working_dir
from airflow_provider_saturn.emulator.script import ScriptError, parse

MAX_SCALE = 100
MAX_RETRIES = 100
EXTRA_PACKAGE_TEXTS = frozenset({"pip", "conda", "apt", "cran", "remotes", "bioconductor"})
EXTRA_PACKAGE_FLAGS = frozenset({"as_requirements_txt", "as_environment_yml", "use_mamba"})
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
IGNORED = frozenset({"owner", "image_tag_id", "image_enforce_trusted", "external_repo_attachments"})

Check = Callable[[str, Any], Any]
"""Takes the field name and its (non-null) value; returns the value to keep or raises a 422."""


def _invalid(field: str, problem: str) -> EmulatorError:
    return EmulatorError(422, f"{field}: {problem}")


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    return value


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, "must be a boolean")
    return value


def _integer(low: int, high: int) -> Check:
    def check(field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(field, f"must be an integer from {low} to {high}")
        return value

    return check


def _string_map(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise _invalid(field, "must be an object of strings")
    return dict(value)


def _description(field: str, value: Any) -> str:
    if len(_string(field, value)) > 2048:
        raise _invalid(field, "at most 2048 characters")
    return str(value)


def _instance_size(field: str, value: Any) -> str:
    if value not in catalog.SIZES:
        raise _invalid(field, f"must be one of {list(catalog.SIZES)}")
    return str(value)


def _environment(field: str, value: Any) -> dict[str, str]:
    return {name.upper(): item for name, item in _string_map(field, value).items()}


def _command(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "required, a non-empty string")
    try:
        parse(value)
    except ScriptError as error:
        raise _invalid(field, str(error)) from None
    return value


def _extra_packages(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(field, "must be an object")
    for key, item in value.items():
        if key in EXTRA_PACKAGE_TEXTS:
            if item is not None:
                _string(f"{field}.{key}", item)
        elif key in EXTRA_PACKAGE_FLAGS:
            _boolean(f"{field}.{key}", item)
        else:
            raise _invalid(f"{field}.{key}", "unknown field")
    return dict(value)


def _config_files(field: str, value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise _invalid(field, "must be an object of {content, mode} by path")
    files = {}
    for path, entry in value.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str) or set(entry) - {"content", "mode"}:
            raise _invalid(f"{field}.{path}", "must be {content: string, mode: string}")
        files[path] = {"content": entry["content"], "mode": _string(f"{field}.{path}.mode", entry.get("mode", "0644"))}
    return files


def _shell_command(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "required, a non-empty string")
    return value


def _home_config_files(field: str, value: Any) -> dict[str, dict[str, str]]:
    files = _config_files(field, value)
    try:
        check_config_files(files)
    except ConfigFileError as error:
        raise _invalid(field, str(error)) from None
    return files


def _home_working_dir(field: str, value: Any) -> str:
    try:
        check_working_dir(_string(field, value))
    except ConfigFileError as error:
        raise _invalid(field, str(error)) from None
    return str(value)


def _cron_schedule(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) - {"schedule", "concurrency_policy"}:
        raise _invalid(field, "must be {schedule, concurrency_policy}")
    schedule = _string(f"{field}.schedule", value.get("schedule"))
    policy = value.get("concurrency_policy") or "Allow"
    if policy not in CONCURRENCY_POLICIES:
        raise _invalid(f"{field}.concurrency_policy", f"must be one of {list(CONCURRENCY_POLICIES)}")
    return {"schedule": schedule, "concurrency_policy": policy}


COMMON: dict[str, Check] = {
    "description": _description,
    "tags": _string_map,
    "instance_size": _instance_size,
    "image_uri": _string,
    "environment_variables": _environment,
    "extra_packages": _extra_packages,
    "config_files": _config_files,
    "start_script": _string,
    "working_dir": _string,
    "is_spot": _boolean,
    "start_dind": _boolean,
    "command": _command,
    "scale": _integer(1, MAX_SCALE),
}
JOB_FIELDS: dict[str, Check] = {**COMMON, "retries": _integer(0, MAX_RETRIES), "cron_schedule_options": _cron_schedule}
RUNNER_JOB_FIELDS: dict[str, Check] = {
    **JOB_FIELDS,
    "command": _shell_command,
    "config_files": _home_config_files,
    "working_dir": _home_working_dir,
}
"""A job's fields in runner mode, where its pods run for real."""
DEPLOYMENT_FIELDS: dict[str, Check] = {**COMMON, "subdomain": _string, "healthcheck": _string, "start_ssh": _boolean}


def _settings(body: dict[str, Any], fields: dict[str, Check]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key, value in body.items():
        if key in IGNORED or key == "name":
            continue
        if key not in fields:
            raise _invalid(key, "unknown field")
        if value is None:
            if key == "command":
                raise _invalid(key, "required, a non-empty string")
            settings[key] = None  # the default
            continue
        settings[key] = fields[key](key, value)
    return settings


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("name", "required, a non-empty string")
    return name


def _create(body: dict[str, Any], fields: dict[str, Check]) -> tuple[str, dict[str, Any]]:
    name = _name(body)
    if body.get("command") is None:
        raise _invalid("command", "required, a non-empty string")
    return name, _settings(body, fields)


def _update(body: dict[str, Any], fields: dict[str, Check]) -> dict[str, Any]:
    changes = _settings(body, fields)
    if "name" in body:
        changes["name"] = _name(body)
    return changes


def parse_job_create(body: dict[str, Any], run_commands: bool = False) -> tuple[str, dict[str, Any]]:
    """A ``JobCreate``; ``run_commands``: as runner mode checks it (any shell command, paths kept in $HOME)."""
    return _create(body, RUNNER_JOB_FIELDS if run_commands else JOB_FIELDS)


def parse_job_update(body: dict[str, Any], run_commands: bool = False) -> dict[str, Any]:
    """A ``JobUpdate``, checked as ``parse_job_create`` checks a create."""
    return _update(body, RUNNER_JOB_FIELDS if run_commands else JOB_FIELDS)


def parse_deployment_create(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _create(body, DEPLOYMENT_FIELDS)


def parse_deployment_update(body: dict[str, Any]) -> dict[str, Any]:
    return _update(body, DEPLOYMENT_FIELDS)


def parse_start(body: dict[str, Any]) -> bool:
    """``JobStart``/``DeploymentStart``: the ``debug_mode`` asked for (false by default)."""
    unknown = sorted(set(body) - {"debug_mode"})
    if unknown:
        raise _invalid(unknown[0], "unknown field")
    debug_mode = body.get("debug_mode")
    return False if debug_mode is None else _boolean("debug_mode", debug_mode)
