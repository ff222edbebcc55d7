"""Checks of workspace, Dask and job settings against Saturn's ``options`` (``GET /api/info/servers``).

Run before any request that changes something, so that a typo names the valid choices and loses nothing.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.client.errors import SaturnInvalidOptionError


def size_names(options: dict[str, Any]) -> list[str]:
    """The instance sizes that can be chosen (disabled ones left out)."""
    sizes = options.get("sizes") or {}
    return [name for name, spec in sizes.items() if not (isinstance(spec, dict) and spec.get("disabled"))]


def disk_space_values(options: dict[str, Any]) -> list[str]:
    """Disk spaces; items are ``{"value", "display_str"}`` in the 2026 spec, plain strings on older servers."""
    values = []
    for item in options.get("disk_space") or []:
        values.append(str(item.get("value")) if isinstance(item, dict) else str(item))
    return values


def _check(label: str, proposed: Any, choices: list[str]) -> None:
    if proposed is not None and proposed not in choices:
        raise SaturnInvalidOptionError(f"Proposed {label}: {proposed} is not a valid option. Options are: {choices}.")


def validate_workspace_settings(options: dict[str, Any], settings: dict[str, Any]) -> None:
    """Raise :class:`SaturnInvalidOptionError` for a size, disk space or auto-shutoff Saturn does not offer."""
    _check("size", settings.get("jupyter_size"), size_names(options))
    _check("disk space", settings.get("jupyter_disk_space"), disk_space_values(options))
    _check("auto shutoff", settings.get("jupyter_auto_shutoff"), list(options.get("auto_shutoff") or []))


def validate_dask_settings(options: dict[str, Any], *, worker_size: str | None, scheduler_size: str | None) -> None:
    """Raise :class:`SaturnInvalidOptionError` for a worker or scheduler size Saturn does not offer."""
    _check("worker size", worker_size, size_names(options))
    _check("scheduler size", scheduler_size, size_names(options))


def validate_local_settings(settings: dict[str, Any]) -> None:
    """Checks that need no ``options``: types that Saturn would refuse."""
    ssh = settings.get("jupyter_start_ssh")
    if ssh is not None and not isinstance(ssh, bool):
        raise SaturnInvalidOptionError(f"jupyter_start_ssh must be True or False, not {ssh!r}.")
    env = settings.get("environment_variables")
    if env is not None and not isinstance(env, dict):
        raise SaturnInvalidOptionError(
            f"environment_variables must be a dict of names to values, not {type(env).__name__}."
        )
    name = settings.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SaturnInvalidOptionError(f"A project name must be a non-empty string, not {name!r}.")


def validate_dask_counts(*, n_workers: int | None, nthreads: int | None) -> None:
    """Worker and thread counts must be whole numbers, at least 0 workers and 1 thread."""
    for label, value, minimum in (("n_workers", n_workers, 0), ("nthreads", nthreads, 1)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SaturnInvalidOptionError(f"{label} must be a whole number of at least {minimum}, not {value!r}.")


def validate_job_settings(settings: dict[str, Any], options: dict[str, Any] | None) -> None:
    """Checks of a job's settings: types first (no request), then ``instance_size`` against ``options``.

    :param options: Saturn's options, or ``None`` when no size is given (nothing to check against them).
    """
    for field in ("name", "command"):
        value = settings.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SaturnInvalidOptionError(f"A job's {field} must be a non-empty string, not {value!r}.")
    env = settings.get("environment_variables")
    if env is not None and not isinstance(env, dict):
        raise SaturnInvalidOptionError(
            f"environment_variables must be a dict of names to values, not {type(env).__name__}."
        )
    _check_job_texts(settings)
    for label, minimum in (("scale", 1), ("retries", 0)):
        value = settings.get(label)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise SaturnInvalidOptionError(f"{label} must be a whole number of at least {minimum}, not {value!r}.")
    if options is not None:
        _check("size", settings.get("instance_size"), size_names(options))


EXTRA_PACKAGE_TEXTS = ("pip", "conda", "apt", "cran", "remotes")
EXTRA_PACKAGE_FLAGS = ("as_requirements_txt", "as_environment_yml")


def _check_job_texts(settings: dict[str, Any]) -> None:
    """``tags``, ``extra_packages`` and ``config_files`` in the shapes of Saturn's ``JobCreate``; no request."""
    tags = settings.get("tags")
    if tags is not None and (
        not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise SaturnInvalidOptionError("tags must be a dict of texts to texts.")
    packages = settings.get("extra_packages")
    if packages is not None:
        known = (*EXTRA_PACKAGE_TEXTS, *EXTRA_PACKAGE_FLAGS)
        if not isinstance(packages, dict) or set(packages) - set(known):
            raise SaturnInvalidOptionError(f"extra_packages must be a dict with some of {list(known)}.")
        for key, value in packages.items():
            wanted = bool if key in EXTRA_PACKAGE_FLAGS else str
            if value is not None and not isinstance(value, wanted):
                raise SaturnInvalidOptionError(f"extra_packages[{key!r}] must be a {wanted.__name__}.")
    files = settings.get("config_files")
    if files is not None:
        if not isinstance(files, dict):
            raise SaturnInvalidOptionError("config_files must be a dict of paths to {content, mode}.")
        for path, entry in files.items():
            if (
                not isinstance(path, str)
                or not path
                or not isinstance(entry, dict)
                or not isinstance(entry.get("content"), str)
                or set(entry) - {"content", "mode"}
                or not isinstance(entry.get("mode", ""), str)
            ):
                raise SaturnInvalidOptionError(
                    f"config_files[{path!r:.80}] must be {{'content': text, 'mode': '0644'}} under a path."
                )
