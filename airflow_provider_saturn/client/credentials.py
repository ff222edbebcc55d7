"""Where the Saturn URL and API token come from: arguments, or the environment inside Saturn."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_saturn.client.errors import SaturnConfigError

URL_ENV_VARS = ("SATURN_BASE_URL", "BASE_URL")  # BASE_URL: Saturn before mid-2021
TOKEN_ENV_VAR = "SATURN_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class SaturnCredentials:
    """A Saturn URL (any trailing slash removed) and an API token, which its repr never shows.

    ``scheme_assumed`` is true when the URL came without ``http://`` or ``https://`` and https was assumed,
    so that a TLS failure can say so.
    """

    url: str
    token: str
    scheme_assumed: bool = False

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
    return SaturnCredentials(
        url=normalise_url(resolved_url), token=checked_token(token), scheme_assumed="://" not in resolved_url
    )


def checked_token(token: str) -> str:
    """The token without surrounding whitespace; refused (never shown) when it could not be a header value."""
    token = token.strip()
    if any(character.isspace() or not character.isprintable() for character in token):
        raise SaturnConfigError(
            "The Saturn API token contains whitespace or control characters, so it cannot be sent: copy it again "
            "from <your Saturn URL>/api/user/token."
        )
    return token


def normalise_url(url: str) -> str:
    """``https://host/prefix/`` -> ``https://host/prefix``; refuses anything that is not an http(s) URL.

    A URL without a scheme is taken as https (Saturn is served over https); see ``scheme_assumed``. Query
    and fragment are dropped. Errors never repeat credentials written into the URL.
    """
    candidate = url.strip()
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    expected = "expected https://<host>[:<port>][/<prefix>]"
    try:
        parts = urlsplit(candidate)
        hostname, _ = parts.hostname, parts.port  # reading the port checks it
    except ValueError as error:
        raise SaturnConfigError(f"The Saturn URL is not valid ({error}): {expected}.") from None
    if "@" in parts.netloc:
        raise SaturnConfigError("The Saturn URL must not carry credentials; put the API token in api_token.")
    if parts.scheme not in ("http", "https") or not hostname:
        raise SaturnConfigError(f"{url.strip()[:200]!r} is not a valid Saturn URL: {expected}.")
    if any(character.isspace() or not character.isprintable() for character in candidate):
        raise SaturnConfigError(f"The Saturn URL {url.strip()[:200]!r} contains whitespace or control characters.")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
