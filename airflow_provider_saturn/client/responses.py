"""Turning an HTTP answer (from ``requests`` or ``httpx``) into data or one of our exceptions: the body read
within a size limit (:class:`AnswerBody`), then decoded (:func:`decode`)."""

from __future__ import annotations

import email.utils
import json
import math
import ssl
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_saturn.client.error_text import error_text, masked
from airflow_provider_saturn.client.errors import (
    SaturnAPIError,
    SaturnAuthError,
    SaturnBadResponseError,
    SaturnConfigError,
    SaturnConflictError,
    SaturnError,
    SaturnInvalidOptionError,
    SaturnNotFoundError,
    SaturnRedirectError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.retry import is_retryable_status
from airflow_provider_saturn.client.wire import shorten

# What a call expects of a successful answer: a JSON object (every read and action), or nothing (a delete).
Expect = Literal["object", "nothing", "bytes"]


class RequestTarget:
    """What a request is about, for error messages: the method, the path, and the resource it names."""

    __slots__ = ("method", "path", "resource", "resource_id")

    def __init__(self, method: str, path: str, resource: str = "resource", resource_id: str = "") -> None:
        self.method = method
        self.path = "/" + path.lstrip("/")
        self.resource = resource
        self.resource_id = resource_id


# zlib's window settings: a gzip member, a zlib stream, a raw deflate stream (what some servers call deflate).
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
_CODINGS = {"gzip": _GZIP_WBITS, "x-gzip": _GZIP_WBITS, "deflate": _ZLIB_WBITS}
# The most one step of inflating produces: memory stays near the limit plus this.
INFLATE_STEP_BYTES = 256 * 1024


class AnswerBody:
    """An answer's body as it arrives, decoded from gzip or deflate here, refused once it passes ``limit`` bytes.

    The HTTP libraries inflate each network chunk whole (64 KiB of gzip can become 64 MiB at once); here no
    step inflates more than what is left under the limit, so memory stays near ``limit`` whatever comes.
    Feed the raw (still encoded) bytes to :meth:`add`; :meth:`content` gives the decoded body. Codings other
    than gzip and deflate (which the clients do not ask for) are left as they are, as both libraries do.

    :param status_code: the answer's status, for error messages.
    :param content_encoding: the answer's ``Content-Encoding``.
    :param content_length: the answer's ``Content-Length``, to refuse a plain body before reading it.
    """

    __slots__ = (
        "_chunks",
        "_deflate_head",
        "_inflater",
        "_limit",
        "_members",
        "_size",
        "_status_code",
        "_target",
        "_wbits",
    )

    def __init__(
        self,
        target: RequestTarget,
        limit: int,
        *,
        status_code: int | None = None,
        content_encoding: str | None = None,
        content_length: str | None = None,
    ) -> None:
        self._target = target
        self._status_code = status_code
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self._members = 0  # gzip members inflated to their end
        self._wbits = self._coding_wbits(content_encoding) if content_encoding else None
        # "deflate" comes with a zlib wrapper or (from some servers) without: its first two bytes tell.
        self._deflate_head: bytes | None = b"" if self._wbits == _ZLIB_WBITS else None
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        if self._wbits is None and _declared_length(content_length) > limit:
            raise self._too_large()

    def add(self, data: bytes) -> None:
        """Take the next raw bytes of the body."""
        if self._wbits is None:
            self._take(data)
            return
        if self._deflate_head is not None:
            data = self._deflate_start(data)
        try:
            self._inflate(data)
        except zlib.error as error:
            raise self._bad(f"Saturn sent an encoded answer that cannot be decoded ({error})") from None

    def content(self) -> bytes:
        """The whole decoded body."""
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)

    def _deflate_start(self, data: bytes) -> bytes:
        """Hold a deflate body's first bytes until two tell whether a zlib wrapper comes; then what to inflate."""
        head = (self._deflate_head or b"") + data
        if len(head) < 2:
            self._deflate_head = head
            return b""
        self._deflate_head = None
        if not _is_zlib_header(head):
            self._wbits = _RAW_DEFLATE_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
        return head

    def _inflate(self, data: bytes) -> None:
        """Inflate ``data`` a bounded piece at a time, starting over for each gzip member that follows; bytes
        trailing a complete member are ignored (as urllib3 does)."""
        wbits = self._wbits
        assert wbits is not None, "only an encoded body is inflated"
        while self._inflater is not None:
            inflater = self._inflater
            most = min(self._limit - self._size + 1, INFLATE_STEP_BYTES)  # +1: a body past the limit shows
            try:
                piece = inflater.decompress(data, most)
            except zlib.error:
                if not self._members:
                    raise
                self._inflater = None
                return
            self._take(piece)
            data = inflater.unconsumed_tail
            if inflater.eof:
                self._members += 1
                data = inflater.unused_data
                if not data:
                    return  # (more bytes given to a finished inflater land in its unused_data)
                self._inflater = zlib.decompressobj(wbits)
            elif not data and len(piece) < most:
                return  # all input taken, and no output held back

    def _take(self, piece: bytes) -> None:
        if not piece:
            return
        self._size += len(piece)
        if self._size > self._limit:
            raise self._too_large()
        self._chunks.append(piece)

    def _coding_wbits(self, content_encoding: str) -> int | None:
        """The zlib window setting for the answer's content coding; ``None`` for a body left as it is."""
        codings = [coding.strip().lower() for coding in content_encoding.split(",")]
        codings = [coding for coding in codings if coding and coding != "identity"]
        known = [coding for coding in codings if coding in _CODINGS]
        if len(codings) > 1 and known:
            shown = shorten(content_encoding, 60)
            raise self._bad(f"Saturn answered in several content codings ({shown}); the client reads one")
        return _CODINGS[known[0]] if known else None

    def _too_large(self) -> SaturnBadResponseError:
        return self._bad(
            f"Saturn's answer is larger than the client's limit of {describe_bytes(self._limit)} (decoded), so "
            "it was not read to its end (a proxy or another server answering instead of Saturn's API?)"
        )

    def _bad(self, message: str) -> SaturnBadResponseError:
        return SaturnBadResponseError(
            message, status_code=self._status_code, method=self._target.method, path=self._target.path
        )


def _is_zlib_header(head: bytes) -> bool:
    """Whether two bytes open a zlib stream (RFC 1950: method 8, and a header that is a multiple of 31)."""
    return head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0


def _declared_length(content_length: str | None) -> int:
    """A ``Content-Length`` as a number; -1 when absent or unreadable (the HTTP library checks it)."""
    try:
        return int(content_length) if content_length else -1
    except ValueError:
        return -1


def describe_bytes(count: int) -> str:
    """``16777216`` -> ``"16 MiB"``; sizes that are no whole number of MiB or KiB in bytes."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


def unsendable_value(target: RequestTarget, error: UnicodeError) -> SaturnInvalidOptionError:
    """A query value or body text that cannot be encoded (a lone surrogate, say): final, never retried."""
    return SaturnInvalidOptionError(
        f"{target.method} {target.path} carries text that cannot be sent: {shorten(str(error), 160)} "
        "(a lone surrogate or a broken copy and paste?). Nothing was sent to Saturn."
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); ``None`` when absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
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
    sent: Any = None,
    secrets: Sequence[str] = (),
) -> SaturnAPIError:
    """The exception for an error answer; the caller raises it. Its message keeps Saturn's words about the
    request and never the values of what was ``sent`` (the request's JSON body) nor the client's own
    ``secrets`` (its API token): see :mod:`~.error_text`."""
    message = error_text(payload, reason or f"HTTP {status_code}", sent, secrets)
    common: dict[str, Any] = {"status_code": status_code, "method": target.method, "path": target.path}
    if status_code in (401, 403):
        return SaturnAuthError(message, **common)
    if status_code == 404:
        return SaturnNotFoundError(message, resource=target.resource, resource_id=target.resource_id, **common)
    if status_code == 409:
        return SaturnConflictError(message, **common)
    if is_retryable_status(status_code):
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return SaturnTransientError(message, retry_after=retry_after, **common)
    return SaturnAPIError(message, **common)


def redirect_error(
    target: RequestTarget, status_code: int, location: str | None, secrets: Sequence[str] = ()
) -> SaturnRedirectError:
    """A 3xx is never followed (the token must not go elsewhere): it says the Saturn URL is off. The location
    is shown without the client's own ``secrets``."""
    where = masked(safe_location(location), secrets)
    return SaturnRedirectError(
        f"Saturn answered with a redirect to {where}: is the Saturn URL right (http vs https, host, path "
        "prefix)? Redirects are not followed, so the API token is never sent anywhere else.",
        location=where,
        status_code=status_code,
        method=target.method,
        path=target.path,
    )


def safe_location(location: str | None) -> str:
    """A redirect target fit for a message: no credentials, query or fragment, bounded in length."""
    if not location:
        return "nowhere (no Location header)"
    try:
        parts = urlsplit(location.strip())
        netloc = parts.netloc.rpartition("@")[2]
        shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        shown = "an unreadable location"
    return shorten(shown, 200)


_NOTHING = object()  # an empty body
_NOT_JSON = object()


def _json(content: bytes) -> Any:
    if not content.strip():
        return _NOTHING
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return _NOT_JSON


def _describe(payload: Any, headers: Mapping[str, str], secrets: Sequence[str]) -> str:
    if payload is _NOTHING:
        return "an empty body"
    if payload is _NOT_JSON:
        content_type = shorten(masked(headers.get("Content-Type") or "no Content-Type", secrets), 80)
        hint = " (a proxy or login page in front of Saturn?)" if "html" in content_type.lower() else ""
        return f"a body that is not JSON ({content_type}){hint}"
    kinds = {type(None): "JSON null", list: "a JSON list", str: "a JSON string", bool: "a JSON boolean"}
    return kinds.get(type(payload), "a JSON number")


def decode(
    target: RequestTarget,
    status_code: int,
    content: bytes,
    reason: str,
    headers: Mapping[str, str],
    *,
    expect: Expect = "object",
    shape: Callable[[dict[str, Any]], Any] | None = None,
    sent: Any = None,
    secrets: Sequence[str] = (),
) -> Any:
    """The JSON object of a successful answer (``None`` when ``expect="nothing"``, the body as it came when
    ``expect="bytes"``), or the exception to raise.

    A 3xx is a :class:`SaturnRedirectError`; an error status its :class:`SaturnAPIError`; a success whose body
    is not a JSON object (empty, ``null``, a list, HTML from a proxy) a :class:`SaturnBadResponseError`,
    which is transient: retried, and polled through by waits. ``shape`` (a normaliser, a page walk) turns
    the object into what the caller returns; the bad answers it finds are reported against this request.
    ``sent``: the request's JSON body, and ``secrets``: the client's own (its API token), which an error's
    message must not repeat.
    """
    if 300 <= status_code < 400:
        raise redirect_error(target, status_code, headers.get("Location"), secrets)
    if expect == "bytes" and 200 <= status_code < 300:
        return content
    payload = _json(content)
    if status_code >= 400 or status_code < 200:
        body = payload if isinstance(payload, dict) else None
        raise error_for(target, status_code, body, reason, headers, sent, secrets)
    if expect == "nothing":
        return None
    if isinstance(payload, dict):
        if shape is None:
            return payload
        try:
            return shape(payload)
        except SaturnBadResponseError as error:
            raise SaturnBadResponseError(
                masked(error.message, secrets), status_code=status_code, method=target.method, path=target.path
            ) from None
    raise SaturnBadResponseError(
        f"Saturn answered with {_describe(payload, headers, secrets)} where a JSON object was expected",
        status_code=status_code,
        method=target.method,
        path=target.path,
    )


def transport_error(
    target: RequestTarget, error: BaseException, *, timed_out: bool = False, timeout: float | None = None
) -> SaturnTransientError:
    """A dropped connection or a timeout, as a retryable error that names no URL credentials."""
    if timed_out:
        detail = f"no complete answer within the request timeout of {timeout:g}s"
    else:
        detail = f"{type(error).__name__}: {error}"
    return SaturnTransientError(shorten(detail, 500), method=target.method, path=target.path)


# TLS failures that a retry can cure: the peer hung up mid-handshake. Every other one is set-up.
_TRANSIENT_TLS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def tls_failure(error: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind an HTTP library's error when it is a set-up problem, else ``None``.

    Looks through causes, contexts, urllib3's ``reason`` and exception arguments, a few levels deep.
    """
    pending: list[tuple[object, int]] = [(error, 0)]
    seen: set[int] = set()
    while pending:
        current, depth = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen or depth > 6:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return None if isinstance(current, _TRANSIENT_TLS) else current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend((item, depth + 1) for item in linked)
    return None


def tls_config_error(url: str, problem: ssl.SSLError, *, scheme_assumed: bool) -> SaturnConfigError:
    """A TLS failure as the set-up problem it is: usually http vs https, or a certificate."""
    reason = shorten(getattr(problem, "reason", None) or str(problem), 200)
    hint = "Is the Saturn URL right: http or https?"
    if scheme_assumed:
        hint += (
            " The URL gave no scheme, so https was assumed: write it with http:// or https:// "
            "(in a connection URI, add ?scheme=http)."
        )
    return SaturnConfigError(f"Could not speak TLS with {url} ({reason}). {hint}")


def exchange_failure(
    target: RequestTarget,
    error: BaseException,
    *,
    timed_out: bool,
    transient: bool,
    timeout: float,
    url: str,
    scheme_assumed: bool,
) -> SaturnError:
    """What an HTTP library's exception means, for both clients: a timeout or another transient failure
    (retried), a TLS set-up problem, or a request that cannot be made at all (both :class:`SaturnConfigError`).

    :param timed_out: the attempt ran out of its time.
    :param transient: the library's error is of a kind another attempt may not meet.
    """
    if timed_out:
        return transport_error(target, error, timed_out=True, timeout=timeout)
    tls = tls_failure(error)
    if tls is not None:
        return tls_config_error(url, tls, scheme_assumed=scheme_assumed)
    if transient:
        return transport_error(target, error)
    return SaturnConfigError(shorten(f"The request to Saturn could not be made ({type(error).__name__}: {error})", 500))


def missing_from_list(label: str, resource_id: str, path: str) -> SaturnNotFoundError:
    """A resource read from a list (a job run in its job's runs) that the list does not hold."""
    return SaturnNotFoundError(
        f"{path} lists no such {label}",
        resource=label,
        resource_id=resource_id,
        status_code=404,
        method="GET",
        path="/" + path.lstrip("/"),
    )
