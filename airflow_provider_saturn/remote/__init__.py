"""Running a Python function as a Saturn job and taking its return value back from the job run's log.

No Airflow here (``@task.saturn`` is built on top): :mod:`.payload` ships the function (its source, its arguments
and :mod:`.bootstrap` as the job's ``config_files``, and the job's ``command``), :mod:`.bootstrap` runs it in the
pod and writes the return value as frame lines, :mod:`.frames` reads them back, :mod:`.errors` says what went wrong.
"""

from __future__ import annotations

from airflow_provider_saturn.remote.bootstrap import DEFAULT_RESULT_BOUND
from airflow_provider_saturn.remote.errors import (
    SaturnArgumentsError,
    SaturnFrameError,
    SaturnFunctionError,
    SaturnPayloadTooLargeError,
    SaturnRemoteError,
)
from airflow_provider_saturn.remote.frames import FrameReader
from airflow_provider_saturn.remote.payload import (
    DEFAULT_PAYLOAD_BOUND,
    bootstrap_command,
    build_job_files,
    function_source,
    new_marker,
    outside_names,
    shipped_settings,
)

__all__ = [
    "DEFAULT_PAYLOAD_BOUND",
    "DEFAULT_RESULT_BOUND",
    "FrameReader",
    "SaturnArgumentsError",
    "SaturnFrameError",
    "SaturnFunctionError",
    "SaturnPayloadTooLargeError",
    "SaturnRemoteError",
    "bootstrap_command",
    "build_job_files",
    "function_source",
    "new_marker",
    "outside_names",
    "shipped_settings",
]
