"""Hooks of the Saturn Cloud provider."""

from airflow_provider_saturn.hooks.saturn import SaturnHook

__all__ = ["SaturnHook"]
