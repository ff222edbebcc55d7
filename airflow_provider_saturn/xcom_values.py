"""What the operators may put in XCom: Saturn's answers with their secrets taken out, in one place.

Saturn returns a resource with everything it was configured with, ``environment_variables`` and
``start_script`` included, and those often hold passwords and tokens. XCom values are stored in plain text
in Airflow's metadata database and shown in its UI, so every value a Saturn operator returns goes through
:func:`xcom_safe` first: the values of environment variables become ``"***"`` (their names stay visible),
and scripts and commands become ``"***"``, at any depth (a workspace's nested ``dask_cluster``, and the
jobs and deployments of later Saturn kinds, which carry ``environment_variables`` and ``command`` too).

The hook and the client still return Saturn's full answers, for programmatic use.
"""

from __future__ import annotations

from typing import Any

REDACTED = "***"
# Mappings of name -> value whose values are secret; the names are kept.
SECRET_VALUE_MAPPINGS = frozenset({"environment_variables"})
# Fields whose whole value is secret: shell scripts and commands often carry credentials inline.
SECRET_FIELDS = frozenset({"start_script", "command"})


def xcom_safe(value: Any) -> Any:
    """A copy of ``value`` fit for XCom: secret fields redacted in every nested dict and list.

    ``None`` and empty values stay as they are, so that "no start script" still reads as such.
    """
    if isinstance(value, dict):
        return {key: _safe_field(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [xcom_safe(item) for item in value]
    return value


def _safe_field(key: Any, value: Any) -> Any:
    if value is None or value == "" or value == {} or value == []:
        return value
    if key in SECRET_VALUE_MAPPINGS:
        return _names_only(value)
    if key in SECRET_FIELDS:
        return REDACTED
    return xcom_safe(value)


def _names_only(variables: Any) -> Any:
    """Environment variables with their names kept and their values redacted, whatever their shape."""
    if isinstance(variables, dict):
        return dict.fromkeys(variables, REDACTED)
    if isinstance(variables, list | tuple):  # [{"name": ..., "value": ...}] in some APIs
        return [
            {"name": item["name"], "value": REDACTED} if isinstance(item, dict) and "name" in item else REDACTED
            for item in variables
        ]
    return REDACTED
