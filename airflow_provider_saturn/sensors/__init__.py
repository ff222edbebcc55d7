"""Sensors of the Saturn Cloud provider."""

from airflow_provider_saturn.sensors.status import SaturnDaskClusterSensor, SaturnJupyterServerSensor

__all__ = ["SaturnDaskClusterSensor", "SaturnJupyterServerSensor"]
