"""Operators of the Saturn Cloud provider."""

from airflow_provider_saturn.operators.dask import SaturnStartDaskClusterOperator, SaturnStopDaskClusterOperator
from airflow_provider_saturn.operators.idle import SaturnStopIdleResourcesOperator
from airflow_provider_saturn.operators.jupyter import SaturnStartJupyterOperator, SaturnStopJupyterOperator
from airflow_provider_saturn.operators.projects import (
    SaturnCreateProjectOperator,
    SaturnDeleteProjectOperator,
    SaturnUpdateProjectOperator,
)

__all__ = [
    "SaturnCreateProjectOperator",
    "SaturnDeleteProjectOperator",
    "SaturnStartDaskClusterOperator",
    "SaturnStartJupyterOperator",
    "SaturnStopDaskClusterOperator",
    "SaturnStopIdleResourcesOperator",
    "SaturnStopJupyterOperator",
    "SaturnUpdateProjectOperator",
]
