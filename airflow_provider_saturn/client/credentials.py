"""Where the Saturn URL and API token come from: arguments, or the environment inside Saturn."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_saturn.client.errors import SaturnConfigError

URL_ENV_VARS = ("SATURN_BASE_URL", "BASE_URL")  # BASE_URL: Saturn before mid-2021
TOKEN_ENV_VAR = "SATURN_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class SaturnCredentials:
    """A Saturn URL (any trailing slash removed) and an API token, which its repr never shows."""

    url: str
    token: str

    def __repr__(self) -> str:
        return f"SaturnCredentials(url={self.url!r}, token='***')"

    def endpoint(self, path: str) -> str:
        """The absolute URL of an API path, keeping any path prefix of the Saturn URL."""
        return f"{self.url}/{path.lstrip('/')}"


def resolve_credentials(url: str | None = None, api_token: str | None = None) -> SaturnCredentials:
    """Credentials from the arguments, each falling back to the environment Saturn sets in its resources."""
    resolved_url = url or next((os.environ[name] for name in URL_ENV_VARS if os.environ.get(name)), None)
    token = api_token or os.environ.get(TOKEN_ENV_VAR)
    if not resolved_url:
        raise SaturnConfigError(
            "No Saturn URL: pass url=... (e.g. https://app.community.saturnenterprise.io) "
            "or set SATURN_BASE_URL (set for you inside Saturn)."
        )
    if not token:
        raise SaturnConfigError(
            "No Saturn API token: pass api_token=... (get one at <your Saturn URL>/api/user/token) "
            "or set SATURN_TOKEN (set for you inside Saturn)."
        )
    return SaturnCredentials(url=normalise_url(resolved_url), token=token.strip())


def normalise_url(url: str) -> str:
    """``https://host/prefix/`` -> ``https://host/prefix``; refuses anything that is not an http(s) URL."""
    candidate = url.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    parts = urlsplit(candidate)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SaturnConfigError(f"{url!r} is not a valid Saturn URL: expected https://<host>[/<prefix>].")
    if parts.username or parts.password:
        raise SaturnConfigError("The Saturn URL must not carry credentials; put the API token in api_token.")
    return candidate.split("?", 1)[0].split("#", 1)[0].rstrip("/")
