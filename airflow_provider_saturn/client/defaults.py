"""What every request carries, from the sync and the async client alike: headers and the default timeout."""

from __future__ import annotations

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
