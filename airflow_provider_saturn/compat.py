"""Airflow imports that moved between Airflow 2.11 and 3.x, in one place."""

from __future__ import annotations

from typing import Any

try:  # Airflow 3: the Task SDK
    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    AIRFLOW_V_3 = True
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowNotFoundException  # type: ignore
    from airflow.hooks.base import BaseHook  # type: ignore
    from airflow.models import BaseOperator  # type: ignore
    from airflow.models.baseoperatorlink import BaseOperatorLink  # type: ignore
    from airflow.sensors.base import BaseSensorOperator  # type: ignore
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore

    AIRFLOW_V_3 = False

try:
    from airflow.sdk import Context
except ImportError:  # Airflow 2.11
    from airflow.utils.context import Context  # type: ignore

try:  # the secrets masker's redact: what mask_secret registered (and connection passwords) read "***"
    from airflow.sdk.log import redact
except ImportError:  # Airflow 2.11
    from airflow.utils.log.secrets_masker import redact  # type: ignore


def airflow_version() -> tuple[int, int]:
    """The running Airflow's (major, minor)."""
    from airflow import __version__

    major, minor, *_ = __version__.split(".")
    return int(major), int(minor)


def xcom_value(*, key: str, ti_key: Any) -> Any:
    """An XCom value of a task instance, or ``None`` when it has none, read without logging an error.

    Used by extra links. On Airflow 3, ``XCom.get_value`` asks the execution API for one XCom, and Airflow's
    API client logs a missing one (a 404) as an error, "XCom not found": noise in the log of every task that
    failed before pushing it, since the task runner resolves the links of every task at its end. So the
    task's values under ``key`` are listed first (``XCom.get_all``: an empty list, never a 404), and one
    value is asked for only when some exist and the listing cannot tell which is this task instance's (a
    mapped task). Airflow 2.11 reads its database, quietly.
    """
    if not AIRFLOW_V_3:
        from airflow.models.xcom import XCom  # type: ignore

        return XCom.get_value(key=key, ti_key=ti_key)
    from airflow.sdk.execution_time.xcom import XCom

    get_all = getattr(XCom, "get_all", None)  # not in every Task SDK release
    if get_all is None:
        return XCom.get_value(key=key, ti_key=ti_key)
    values = get_all(key=key, dag_id=ti_key.dag_id, task_id=ti_key.task_id, run_id=ti_key.run_id)
    if not values:
        return None
    map_index = getattr(ti_key, "map_index", -1)
    if (map_index is None or map_index < 0) and len(values) == 1:
        return values[0]
    return XCom.get_value(key=key, ti_key=ti_key)


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration."""
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 2.11
        from airflow.configuration import conf  # type: ignore
    value: Any = conf.getboolean("operators", "default_deferrable", fallback=False)
    return bool(value)


__all__ = [
    "AIRFLOW_V_3",
    "AirflowNotFoundException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "airflow_version",
    "default_deferrable",
    "mask_secret",
    "redact",
    "xcom_value",
]
