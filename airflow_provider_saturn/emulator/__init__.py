"""A local Saturn Cloud API emulator (generation 2), for running and testing DAGs without a Saturn account.

Never imported by product code. ``python -m airflow_provider_saturn.emulator --help`` runs it.
"""

from airflow_provider_saturn.emulator.faults import FaultSettings
from airflow_provider_saturn.emulator.server import SaturnEmulator

__all__ = ["FaultSettings", "SaturnEmulator"]
