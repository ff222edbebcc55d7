"""Exceptions raised by the Saturn client. None of them ever carries the API token."""

from __future__ import annotations


class SaturnError(Exception):
    """Base class of every error this package raises about Saturn."""


class SaturnConfigError(SaturnError):
    """The client cannot be built: the Saturn URL or the API token is missing or malformed."""


class SaturnInvalidOptionError(SaturnError, ValueError):
    """An argument is not one of the values Saturn accepts; raised before any request is sent."""


class SaturnInvalidIdError(SaturnInvalidOptionError):
    """An id (or a name that goes into a URL path) that cannot be one path segment; no request was sent.

    :param argument: the argument that held it, e.g. ``jupyter_server_id``.
    :param value: the value refused.
    :param problem: what is wrong with it.
    """

    def __init__(self, argument: str, value: object, problem: str) -> None:
        self.argument = argument
        self.value = value
        self.problem = problem
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        super().__init__(f"{argument}={shown} is not a usable Saturn id: {problem}. Nothing was sent to Saturn.")


class SaturnAPIError(SaturnError):
    """Saturn answered with an error status.

    :param status_code: the HTTP status code.
    :param message: Saturn's own words (its ``message``, or the ``loc`` and ``msg`` of each item of a 422's
        ``detail``; the response's reason when the body is not a JSON object), never the values of what was
        sent: echoed inputs are left out and the request's values masked (see :mod:`~.error_text`).
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
        if self.resource_id and len(self.resource_id) != 32 and "/" not in self.resource_id:
            hint = " Saturn ids are 32 hex characters: maybe a name was given instead of an id?"
        return f"Saturn has no {self.resource} with id {self.resource_id!r}.{hint} ({super()._describe()})"


class SaturnConflictError(SaturnAPIError):
    """409: the request clashes with the resource's state (a taken name, an active workspace)."""


class SaturnTransientError(SaturnAPIError):
    """A failure worth retrying: a dropped connection, a timeout, 429 or a 5xx."""


class SaturnBadResponseError(SaturnTransientError):
    """Saturn (or a proxy in front of it) answered with a body that is not what the API promises.

    Transient: a proxy that answers once with an empty page usually answers right the next time.
    """


class SaturnRedirectError(SaturnAPIError, SaturnConfigError):
    """Saturn answered with a redirect (3xx). Never followed: it means the Saturn URL is wrong.

    :param location: where the redirect pointed, without any query string or credentials.
    """

    def __init__(self, message: str, *, location: str = "", **kwargs: object) -> None:
        self.location = location
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class SaturnPagingError(SaturnAPIError):
    """A paginated list did not end: a page key came back twice, or the page or time limit was reached."""


class SaturnResourceError(SaturnError):
    """A workspace or Dask cluster failed: it went into ``error`` (or away from the status waited for)."""

    def __init__(self, message: str, *, kind: str = "", resource_id: str = "") -> None:
        self.kind = kind
        self.resource_id = resource_id
        self.message = message
        super().__init__(message)


class SaturnWaitTimeoutError(SaturnError, TimeoutError):
    """A wait for a status ran out of time."""


class SaturnDaskClusterError(SaturnError):
    """A Saturn Dask cluster cannot be computed on: not running, missing from its project, or its scheduler did
    not answer."""

    def __init__(self, message: str, *, resource_id: str = "") -> None:
        self.resource_id = resource_id
        self.message = message
        super().__init__(message)
