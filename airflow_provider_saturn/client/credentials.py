"""Where the Saturn URL and API token come from: arguments, or the environment inside Saturn."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from airflow_provider_saturn.client.errors import SaturnConfigError

URL_ENV_VARS = ("SATURN_BASE_URL", "BASE_URL")  # BASE_URL: Saturn before mid-2021
TOKEN_ENV_VAR = "SATURN_TOKEN"  # noqa: S105 - a variable name
# A "%" that does not start an escape ("%2F"): requests and httpx would each send something else for it.
STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


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


def environment_url() -> str | None:
    """The Saturn URL a Saturn resource is given in its environment (``SATURN_BASE_URL``, or ``BASE_URL``)."""
    return next((os.environ[name] for name in URL_ENV_VARS if os.environ.get(name)), None)


def resolve_credentials(url: str | None = None, api_token: str | None = None) -> SaturnCredentials:
    """Credentials from the arguments, each falling back to the environment Saturn sets in its resources."""
    resolved_url = url or environment_url()
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
    if not token.isascii():
        raise SaturnConfigError(
            "The Saturn API token contains characters that are not ASCII (a curly quote or a dash pasted with "
            "it?), so it cannot be sent: copy it again from <your Saturn URL>/api/user/token."
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
        hostname, port = parts.hostname, parts.port  # reading the port checks it
    except ValueError as error:
        raise SaturnConfigError(f"The Saturn URL is not valid ({error}): {expected}.") from None
    if "@" in parts.netloc:
        raise SaturnConfigError("The Saturn URL must not carry credentials; put the API token in api_token.")
    if parts.scheme not in ("http", "https") or not hostname:
        raise SaturnConfigError(f"{url.strip()[:200]!r} is not a valid Saturn URL: {expected}.")
    if any(character.isspace() or not character.isprintable() for character in candidate):
        raise SaturnConfigError(f"The Saturn URL {url.strip()[:200]!r} contains whitespace or control characters.")
    problem = _url_problem(parts, hostname, port)
    if problem:
        raise SaturnConfigError(f"The Saturn URL {url.strip()[:200]!r} is not valid: {problem}; {expected}.")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _url_problem(parts: SplitResult, hostname: str, port: int | None) -> str:
    """What the HTTP libraries would reject, or read differently from each other, in a parsed URL; "" if none."""
    if port == 0:
        return "port 0 is no port a server listens on"
    if STRAY_PERCENT.search(parts.path):
        return "its path has a '%' that does not start an escape such as %2F"
    label = _bad_a_label(hostname)
    if label:
        return f"its host has the label {label[:70]!r}, which starts with 'xn--' but is no valid IDNA name"
    return ""


def _bad_a_label(hostname: str) -> str:
    """The first label of ``hostname`` written as IDNA (``xn--...``) that does not decode; "" when there is none.

    (httpx refuses such a host at the first request with a raw ``IDNAError``.)
    """
    labels = [label for label in hostname.split(".") if label.lower().startswith("xn--")]
    if not labels:
        return ""
    import idna  # what requests and httpx encode host names with; only loaded for IDNA names

    for label in labels:
        try:
            idna.decode(label)
        except (UnicodeError, ValueError):
            return label
    return ""
