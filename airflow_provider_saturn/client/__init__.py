"""A pure Saturn Cloud API client: no Airflow imports, usable on its own like the seed's ``SaturnConnection``."""

from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
from airflow_provider_saturn.client.errors import (
    SaturnAPIError,
    SaturnAuthError,
    SaturnConfigError,
    SaturnConflictError,
    SaturnError,
    SaturnInvalidOptionError,
    SaturnNotFoundError,
    SaturnResourceError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.retry import RetryPolicy
from airflow_provider_saturn.client.sync_client import SaturnClient

__all__ = [
    "RetryPolicy",
    "SaturnAPIError",
    "SaturnAuthError",
    "SaturnClient",
    "SaturnConfigError",
    "SaturnConflictError",
    "SaturnCredentials",
    "SaturnError",
    "SaturnInvalidOptionError",
    "SaturnNotFoundError",
    "SaturnResourceError",
    "SaturnTransientError",
    "resolve_credentials",
]
