"""Sensors of the Saturn Cloud provider."""

from airflow_provider_saturn.sensors.status import (
    SaturnDaskClusterSensor,
    SaturnDeploymentSensor,
    SaturnJobRunSensor,
    SaturnJupyterServerSensor,
)

__all__ = ["SaturnDaskClusterSensor", "SaturnDeploymentSensor", "SaturnJobRunSensor", "SaturnJupyterServerSensor"]
