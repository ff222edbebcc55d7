"""``SyncTransport``: what every synchronous Saturn call goes through (``requests``), free of Airflow imports.

One keep-alive session; each attempt bounded as a whole by the timeout; redirects refused; answers read up to
``MAX_ANSWER_BYTES`` (decoded) and decoded (and put in shape) by :mod:`~.responses`; transient failures
retried by the policy; listings walked by :mod:`~.paging`. The operations live in
:class:`~.sync_client.SaturnClient` and its parts (jobs, deployments).

The token goes out through the session's ``auth`` (:class:`TokenAuth`), so that a ``.netrc`` entry for the
Saturn host never replaces it; proxies from the environment (``HTTPS_PROXY``...) are used as ``requests``
uses them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, TypeVar

import requests
import urllib3
from tenacity import Retrying

from airflow_provider_saturn.client.credentials import SaturnCredentials, resolve_credentials
from airflow_provider_saturn.client.deadline import AttemptDeadline, DeadlineAdapter
from airflow_provider_saturn.client.defaults import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    authorization,
    checked_timeout,
    request_headers,
)
from airflow_provider_saturn.client.errors import (
    SaturnBadResponseError,
    SaturnError,
    SaturnNotFoundError,
    SaturnTransientError,
)
from airflow_provider_saturn.client.kinds import resource_wire
from airflow_provider_saturn.client.paging import PageLimits, PageWalk
from airflow_provider_saturn.client.paths import Paths
from airflow_provider_saturn.client.responses import (
    AnswerBody,
    Expect,
    RequestTarget,
    decode,
    exchange_failure,
    missing_from_list,
    transport_error,
    unsendable_value,
)
from airflow_provider_saturn.client.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")
Shape = Callable[[dict[str, Any]], Any]
# One answer: the status, the reason, the headers, the decoded body.
Answer = tuple[int, str, Mapping[str, str], bytes]

# A request body that is not JSON: its content type (``None``: none sent, as Saturn's own clients do) and its
# bytes. Its answer may not be JSON either.
RawBody = tuple[str | None, bytes]
# Failures of an exchange that another attempt may not meet; every other requests error is a set-up problem.
# (urllib3's own errors come from reading the body, once the exchange is under way.)
TRANSIENT_REQUESTS_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,
)
TIMEOUT_ERRORS = (requests.Timeout, urllib3.exceptions.TimeoutError)
# How much of the body is read at a time (before decoding).
READ_CHUNK_BYTES = 64 * 1024


def raw_body_headers(body: RawBody) -> dict[str, str]:
    """The headers of a request whose body (and answer) is not JSON."""
    content_type, _ = body
    return {"Accept": "*/*", **({"Content-Type": content_type} if content_type else {})}


class TokenAuth(requests.auth.AuthBase):
    """Puts the API token in each request's ``Authorization`` header; its repr never shows the token.

    As the session's ``auth``, it also keeps ``requests`` from reading ``~/.netrc`` (which it does when a
    session has no ``auth``) and sending a netrc login for the Saturn host instead of the token.
    """

    def __init__(self, token: str) -> None:
        self._header = authorization(token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "TokenAuth('***')"


class SyncTransport:
    """The session, the timeout, the retry policy and the page limits of a synchronous Saturn client.

    See :class:`~.sync_client.SaturnClient` for the parameters.
    """

    def __init__(
        self,
        url: str | None = None,
        api_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        page_limits: PageLimits | None = None,
    ) -> None:
        self._credentials: SaturnCredentials = resolve_credentials(url, api_token)
        self._secrets = (self._credentials.token,)  # masked in every error message built from an answer
        self.timeout = checked_timeout(timeout)
        self.retry_policy = retry or RetryPolicy()
        self.page_limits = page_limits or PageLimits()
        self._retry_settings = self.retry_policy.tenacity_kwargs()  # stateless parts, built once
        self.max_answer_bytes = MAX_ANSWER_BYTES  # the largest answer read, decoded
        self._session = requests.Session()
        self._session.headers.update(request_headers())
        self._session.auth = TokenAuth(self._credentials.token)
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._options: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The Saturn URL this client talks to, without a trailing slash."""
        return self._credentials.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def options(self) -> dict[str, Any]:
        """Options for workspace settings: ``sizes``, ``disk_space`` and ``auto_shutoff`` (fetched once)."""
        if self._options is None:
            self._options = dict(self._request("GET", Paths.OPTIONS))
        return self._options

    # ------------------------------------------------------------------ transport

    def _send(
        self,
        target: RequestTarget,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
        body: RawBody | None = None,
    ) -> Any:
        """One HTTP exchange, no retry, bounded as a whole by ``timeout``: the decoded answer (put in ``shape``)
        or an exception. ``body``: a request body that is not JSON (its content type and bytes).

        Redirects are never followed. Every failure is a :class:`SaturnError`.
        """
        deadline = AttemptDeadline(self.timeout)
        try:
            with deadline:
                status_code, reason, headers, content = self._exchange(target, json, params, body)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            raise self._failure(target, error, timed_out=deadline.expired) from None
        except UnicodeError as error:  # a query value that cannot be encoded: nothing was sent
            raise unsendable_value(target, error) from None
        except SaturnBadResponseError:
            if deadline.expired:  # a body cut short by the deadline
                raise self._timed_out(target) from None
            raise
        if deadline.expired:  # the deadline cut an answer whose end the server did not mark
            raise self._timed_out(target)
        return decode(
            target, status_code, content, reason, headers, expect=expect, shape=shape, sent=json, secrets=self._secrets
        )

    def _failure(self, target: RequestTarget, error: Exception, *, timed_out: bool) -> SaturnError:
        """What an exception of ``requests`` (or of urllib3, from reading the body) means."""
        return exchange_failure(
            target,
            error,
            timed_out=timed_out or isinstance(error, TIMEOUT_ERRORS),
            transient=isinstance(error, TRANSIENT_REQUESTS_ERRORS),
            timeout=self.timeout,
            url=self.url,
            scheme_assumed=self._credentials.scheme_assumed,
        )

    def _timed_out(self, target: RequestTarget) -> SaturnTransientError:
        return transport_error(target, TimeoutError(), timed_out=True, timeout=self.timeout)

    def _exchange(
        self, target: RequestTarget, json: Any, params: dict[str, Any] | None, raw: RawBody | None = None
    ) -> Answer:
        """Send the request and read its answer, at most ``max_answer_bytes`` of it decoded: the status, the
        reason, the headers and the body. The connection goes back to the pool once the body is read to its end,
        and is closed when it is not."""
        response = self._session.request(
            target.method,
            self._credentials.endpoint(target.path),
            json=json,
            params=params,
            data=raw[1] if raw is not None else None,
            headers=raw_body_headers(raw) if raw is not None else None,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            headers = response.headers
            body = AnswerBody(
                target,
                self.max_answer_bytes,
                status_code=response.status_code,
                content_encoding=headers.get("Content-Encoding"),
                content_length=headers.get("Content-Length"),
            )
            for chunk in response.raw.stream(READ_CHUNK_BYTES, decode_content=False):
                body.add(chunk)
            return response.status_code, response.reason or "", headers, body.content()
        finally:
            response.close()

    def _retrying(self, call: Callable[[], T]) -> T:
        """Run ``call`` under the retry policy; the last error is raised as it is once the policy gives up."""
        for attempt in Retrying(**self._retry_settings):
            with attempt:
                return call()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        resource: str = "resource",
        resource_id: str = "",
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
        body: RawBody | None = None,
    ) -> Any:
        """One request under the retry policy; a bad answer found by ``shape`` is retried like any transient."""
        target = RequestTarget(method, path, resource, resource_id)
        return self._retrying(
            lambda: self._send(target, json=json, params=params, expect=expect, shape=shape, body=body)
        )

    def _pages(self, path: str, field: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following ``next_key`` to the last page, within ``page_limits``."""
        walk = PageWalk(path, field, params, self.page_limits)
        while walk.query is not None:
            yield from self._request("GET", path, params=walk.query, shape=walk.take)

    def _create_once_only(
        self, send: Callable[[], dict[str, Any]], find_earlier: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Retry a create, but before each re-send look for what an attempt whose answer was lost made."""
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                earlier = find_earlier()
                if earlier is not None:
                    log.info("An earlier attempt already created it; not creating it again")
                    return earlier
            return send()

        return self._retrying(attempt)

    def _find_by_name(self, path: str, field: str, name: str, shape: Shape) -> Any:
        """The item of the list at ``path`` named exactly ``name`` (Saturn's ``name`` filter is a substring
        match), put through ``shape``; ``None`` when there is none."""
        for item in self._pages(path, field, {"name": name}):
            if item.get("name") == name:
                return shape(item)
        return None

    def _find_without_retry(self, path: str, field: str, name: str, shape: Shape) -> Any:
        """:meth:`_find_by_name` whose first page is one attempt, for use inside a retried create."""
        walk = PageWalk(path, field, {"name": name}, self.page_limits)
        for item in self._send(RequestTarget("GET", path), params=walk.query, shape=walk.take):
            if item.get("name") == name:
                return shape(item)
        if walk.query is not None:  # rare: many names contain this one; walk the pages (with retries)
            return self._find_by_name(path, field, name, shape)
        return None

    def _delete_once_only(self, path: str, label: str, resource_id: str, *, allow_active: bool) -> None:
        """A delete retried under the policy; a 404 after a lost answer means an earlier attempt did it."""
        target = RequestTarget("DELETE", path, label, resource_id)
        params = {"allow_active": "true"} if allow_active else None
        attempts = 0

        def delete_once() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._send(target, params=params, expect="nothing")
            except SaturnNotFoundError:
                if attempts == 1:
                    raise
                log.info("%s %s was deleted by an earlier attempt whose answer was lost", label, resource_id)

        self._retrying(delete_once)

    # ------------------------------------------------------------------ any kind, as waits need

    def get_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """A resource of any kind of :data:`~.kinds.RESOURCES` by id: ``"jupyter_server"``, ``"dask_cluster"``,
        ``"deployment"``, or ``"job_run"`` (id ``"<job id>/<run name>"``)."""
        resource = resource_wire(kind)
        plan = resource.read_plan(resource_id)
        if plan.list_field is None:
            return self._request(
                "GET", plan.path, resource=resource.label, resource_id=str(resource_id), shape=plan.shape
            )
        for item in self._pages(plan.path, plan.list_field):
            if plan.match is not None and plan.match(item):
                return plan.shape(item)
        raise missing_from_list(resource.label, str(resource_id), plan.path)

    def stop_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a resource of any kind (a job run: that run only); returns it as it is then."""
        resource = resource_wire(kind)
        path, shape = resource.stop_plan(resource_id)
        answer = self._request("POST", path, resource=resource.label, resource_id=str(resource_id), shape=shape)
        return answer if shape is not None else self.get_resource(kind, resource_id)

    def _resource_call(
        self, kind: str, method: str, resource_id: str, action: str = "", body: Any = None
    ) -> dict[str, Any]:
        resource = resource_wire(kind)
        path = resource.path(resource_id, action)
        return self._request(
            method, path, json=body, resource=resource.label, resource_id=resource_id, shape=resource.normalise
        )
