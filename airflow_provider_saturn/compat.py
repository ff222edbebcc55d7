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


def airflow_version() -> tuple[int, int]:
    """The running Airflow's (major, minor)."""
    from airflow import __version__

    major, minor, *_ = __version__.split(".")
    return int(major), int(minor)


def xcom_value(*, key: str, ti_key: Any) -> Any:
    """An XCom value of a task instance, read where the running Airflow keeps them (used by extra links)."""
    if AIRFLOW_V_3:
        from airflow.sdk.execution_time.xcom import XCom
    else:  # Airflow 2.11
        from airflow.models.xcom import XCom  # type: ignore
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
    "xcom_value",
]
