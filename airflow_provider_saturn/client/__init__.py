"""A pure Saturn Cloud API client: no Airflow imports, usable on its own like the seed's ``SaturnConnection``.

Names are loaded on first use, so that importing a light module of this package (``statuses``, ``wire``)
does not import the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SaturnClient": "sync_client",
    "AsyncSaturnClient": "async_client",
    "RetryPolicy": "retry",
    "SaturnCredentials": "credentials",
    "resolve_credentials": "credentials",
    "SaturnAPIError": "errors",
    "SaturnAuthError": "errors",
    "SaturnConfigError": "errors",
    "SaturnConflictError": "errors",
    "SaturnDaskClusterError": "errors",
    "SaturnError": "errors",
    "SaturnInvalidOptionError": "errors",
    "SaturnNotFoundError": "errors",
    "SaturnResourceError": "errors",
    "SaturnTransientError": "errors",
    "SaturnWaitTimeoutError": "errors",
}

__all__ = [
    "AsyncSaturnClient",
    "RetryPolicy",
    "SaturnAPIError",
    "SaturnAuthError",
    "SaturnClient",
    "SaturnConfigError",
    "SaturnConflictError",
    "SaturnCredentials",
    "SaturnDaskClusterError",
    "SaturnError",
    "SaturnInvalidOptionError",
    "SaturnNotFoundError",
    "SaturnResourceError",
    "SaturnTransientError",
    "SaturnWaitTimeoutError",
    "resolve_credentials",
]

if TYPE_CHECKING:
    from airflow_provider_saturn.client.async_client import AsyncSaturnClient
    from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
    from airflow_provider_saturn.client.errors import (
        SaturnAPIError,
        SaturnAuthError,
        SaturnConfigError,
        SaturnConflictError,
        SaturnDaskClusterError,
        SaturnError,
        SaturnInvalidOptionError,
        SaturnNotFoundError,
        SaturnResourceError,
        SaturnTransientError,
        SaturnWaitTimeoutError,
    )
    from airflow_provider_saturn.client.retry import RetryPolicy
    from airflow_provider_saturn.client.sync_client import SaturnClient


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
