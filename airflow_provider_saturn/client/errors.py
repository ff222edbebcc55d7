"""Exceptions raised by the Saturn client. None of them ever carries the API token."""

from __future__ import annotations


class SaturnError(Exception):
    """Base class of every error this package raises about Saturn."""


class SaturnConfigError(SaturnError):
    """The client cannot be built: the Saturn URL or the API token is missing or malformed."""


class SaturnInvalidOptionError(SaturnError, ValueError):
    """An argument is not one of the values Saturn accepts; raised before any request is sent."""


class SaturnAPIError(SaturnError):
    """Saturn answered with an error status.

    :param status_code: the HTTP status code.
    :param message: Saturn's own ``message`` (or the response's reason when the body is not JSON).
    :param method: the HTTP method of the request.
    :param path: the API path of the request (never the full URL with credentials).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip()
        code = f"HTTP {self.status_code}" if self.status_code is not None else "no response"
        return f"Saturn API error ({code}{', ' + where if where else ''}): {self.message}"


class SaturnAuthError(SaturnAPIError):
    """401 or 403: the API token is wrong, expired or lacks the permission."""

    def _describe(self) -> str:
        lowered = self.message.lower()
        if "expired" in lowered:
            hint = "The Saturn API token has expired: get a new one from <your Saturn URL>/api/user/token."
        elif self.status_code == 403:
            hint = "The Saturn API token is not allowed to do this."
        else:
            hint = "The Saturn API token was rejected: check that it is right and not expired."
        return f"{hint} ({super()._describe()})"


class SaturnNotFoundError(SaturnAPIError):
    """404: no resource with that id exists (or the token cannot see it)."""

    def __init__(self, message: str, *, resource: str = "resource", resource_id: str = "", **kwargs: object) -> None:
        self.resource = resource
        self.resource_id = resource_id
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _describe(self) -> str:
        hint = ""
        if self.resource_id and len(self.resource_id) != 32:
            hint = " Saturn ids are 32 hex characters: maybe a name was given instead of an id?"
        return f"Saturn has no {self.resource} with id {self.resource_id!r}.{hint} ({super()._describe()})"


class SaturnConflictError(SaturnAPIError):
    """409: the request clashes with the resource's state (a taken name, an active workspace)."""


class SaturnTransientError(SaturnAPIError):
    """A failure worth retrying: a dropped connection, a timeout, 429 or a 5xx."""


class SaturnResourceError(SaturnError):
    """A workspace or Dask cluster failed: it went into ``error`` (or away from the status waited for)."""

    def __init__(self, message: str, *, kind: str = "", resource_id: str = "") -> None:
        self.kind = kind
        self.resource_id = resource_id
        self.message = message
        super().__init__(message)


class SaturnWaitTimeoutError(SaturnError, TimeoutError):
    """A wait for a status ran out of time."""
