"""What every request carries, from the sync and the async client alike: headers, the default timeout, and
the largest answer read."""

from __future__ import annotations

import math

from airflow_provider_saturn import __version__

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"airflow-provider-saturn/{__version__}"
# The largest answer body read, once decoded (gzip can turn 1 MiB on the wire into 1 GiB). A page of 1000
# workspaces is about 2 MB and a page of 1000 log lines about 1 MB (16 MiB leaves room for 16 KiB lines).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# The codings the clients decode themselves (bounded by MAX_ANSWER_BYTES), so the only ones asked for.
ACCEPT_ENCODING = "gzip, deflate"


def request_headers() -> dict[str, str]:
    """The headers of every call but the token: who is calling, that JSON is wanted, and how it may come."""
    return {
        "User-Agent": USER_AGENT,
        "X-Saturn-Client-Version": __version__,
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
    }


def authorization(token: str) -> str:
    """The ``Authorization`` header value for an API token."""
    return f"token {token}"


def client_headers(token: str) -> dict[str, str]:
    """The headers of every call: the token, who is calling, and that JSON is wanted."""
    return {"Authorization": authorization(token), **request_headers()}


def checked_timeout(timeout: object) -> float:
    """A request timeout in seconds: a finite number above zero, else ``ValueError``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)
