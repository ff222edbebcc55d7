"""Turning an HTTP answer (from ``requests`` or ``httpx``) into data or one of our exceptions."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_saturn.client.errors import (
    SaturnAPIError,
    SaturnAuthError,
    SaturnConflictError,
    SaturnNotFoundError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.retry import RETRYABLE_STATUS_CODES
from airflow_provider_saturn.client.wire import error_message


class RequestTarget:
    """What a request is about, for error messages: the method, the path, and the resource it names."""

    __slots__ = ("method", "path", "resource", "resource_id")

    def __init__(self, method: str, path: str, resource: str = "resource", resource_id: str = "") -> None:
        self.method = method
        self.path = "/" + path.lstrip("/")
        self.resource = resource
        self.resource_id = resource_id


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None`` when absent."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def error_for(
    target: RequestTarget,
    status_code: int,
    payload: Any,
    reason: str,
    headers: Mapping[str, str],
) -> SaturnAPIError:
    """The exception for an error answer; the caller raises it."""
    message = error_message(payload, reason or f"HTTP {status_code}")
    common: dict[str, Any] = {"status_code": status_code, "method": target.method, "path": target.path}
    if status_code in (401, 403):
        return SaturnAuthError(message, **common)
    if status_code == 404:
        return SaturnNotFoundError(message, resource=target.resource, resource_id=target.resource_id, **common)
    if status_code == 409:
        return SaturnConflictError(message, **common)
    if status_code in RETRYABLE_STATUS_CODES:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return SaturnTransientError(message, retry_after=retry_after, **common)
    return SaturnAPIError(message, **common)


def transport_error(target: RequestTarget, error: BaseException) -> SaturnTransientError:
    """A dropped connection or a timeout, as a retryable error that names no URL credentials."""
    return SaturnTransientError(f"{type(error).__name__}: {error}", method=target.method, path=target.path)


_NOT_JSON = object()


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return _NOT_JSON


def decode(target: RequestTarget, status_code: int, content: bytes, reason: str, headers: Mapping[str, str]) -> Any:
    """The JSON body of an answer (``None`` when empty), or the exception for an error status."""
    payload = _json(content) if content else None
    if status_code >= 400:
        raise error_for(target, status_code, None if payload is _NOT_JSON else payload, reason, headers)
    if payload is _NOT_JSON:
        raise SaturnTransientError(
            "Saturn answered with a body that is not JSON", method=target.method, path=target.path
        )
    return payload
