"""What every request carries, from the sync and the async client alike: headers and the default timeout."""

from __future__ import annotations

import math

from airflow_provider_saturn import __version__

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"airflow-provider-saturn/{__version__}"


def client_headers(token: str) -> dict[str, str]:
    """The headers of every call: the token, who is calling, and that JSON is wanted."""
    return {
        "Authorization": f"token {token}",
        "User-Agent": USER_AGENT,
        "X-Saturn-Client-Version": __version__,
        "Accept": "application/json",
    }


def checked_timeout(timeout: object) -> float:
    """A request timeout in seconds: a finite number above zero, else ``ValueError``."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)
