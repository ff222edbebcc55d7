"""Triggers of the Saturn Cloud provider, for deferrable operators and sensors."""

from airflow_provider_saturn.triggers.status import SaturnStatusTrigger

__all__ = ["SaturnStatusTrigger"]
