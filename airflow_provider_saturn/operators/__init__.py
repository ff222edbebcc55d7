"""Operators of the Saturn Cloud provider."""

from airflow_provider_saturn.operators.dask import SaturnStartDaskClusterOperator, SaturnStopDaskClusterOperator
from airflow_provider_saturn.operators.deployments import SaturnStartDeploymentOperator, SaturnStopDeploymentOperator
from airflow_provider_saturn.operators.idle import SaturnStopIdleResourcesOperator
from airflow_provider_saturn.operators.jobs import (
    SaturnCreateJobOperator,
    SaturnDeleteJobOperator,
    SaturnRunJobOperator,
)
from airflow_provider_saturn.operators.jupyter import SaturnStartJupyterOperator, SaturnStopJupyterOperator
from airflow_provider_saturn.operators.projects import (
    SaturnCreateProjectOperator,
    SaturnDeleteProjectOperator,
    SaturnUpdateProjectOperator,
)

__all__ = [
    "SaturnCreateJobOperator",
    "SaturnCreateProjectOperator",
    "SaturnDeleteJobOperator",
    "SaturnDeleteProjectOperator",
    "SaturnRunJobOperator",
    "SaturnStartDaskClusterOperator",
    "SaturnStartDeploymentOperator",
    "SaturnStartJupyterOperator",
    "SaturnStopDaskClusterOperator",
    "SaturnStopDeploymentOperator",
    "SaturnStopIdleResourcesOperator",
    "SaturnStopJupyterOperator",
    "SaturnUpdateProjectOperator",
]
