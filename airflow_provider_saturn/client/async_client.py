"""``AsyncSaturnClient``: the status reads and stops that waits need, over ``httpx`` with pooled connections.

One client per event loop and credentials is shared by every wait (:func:`shared_async_client`), so a
triggerer holding thousands of waits keeps a bounded pool of keep-alive connections instead of one per wait.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import weakref
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying

from airflow_provider_saturn.client.credentials import SaturnCredentials
from airflow_provider_saturn.client.defaults import DEFAULT_TIMEOUT, checked_timeout, client_headers
from airflow_provider_saturn.client.kinds import resource_wire
from airflow_provider_saturn.client.paging import PageLimits, PageWalk
from airflow_provider_saturn.client.responses import Expect, RequestTarget, decode, exchange_failure, missing_from_list
from airflow_provider_saturn.client.retry import RetryPolicy

MAX_CONNECTIONS = 64
CONNECTIONS_PER_POOL = 8
# Longer than a poll interval, so that a wait finds its pooled connection still open at its next poll.
KEEPALIVE_SECONDS = 30.0
# Failures of an exchange that another attempt may not meet. (UnsupportedProtocol, a TransportError too, is
# a set-up problem that cannot happen here: the Saturn URL is always http or https.)
TRANSIENT_HTTPX_ERRORS = (httpx.TransportError, httpx.DecodingError)


class AsyncSaturnClient:
    """Async reads of Jupyter servers and Dask clusters (and their stops), under the same retry policy.

    :param credentials: the Saturn URL and token.
    :param timeout: seconds that each HTTP attempt may take as a whole (waiting for a free pooled connection
        is not counted).
    :param retry: the retry policy for dropped connections, timeouts, 429 and 5xx.
    :param max_connections: the most TCP connections this client keeps open at once.
    """

    def __init__(
        self,
        credentials: SaturnCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_connections: int = MAX_CONNECTIONS,
        page_limits: PageLimits | None = None,
    ) -> None:
        self._credentials = credentials
        self.page_limits = page_limits or PageLimits()
        self.timeout = checked_timeout(timeout)
        self.retry_policy = retry or RetryPolicy()
        self._retry_settings = self.retry_policy.tenacity_kwargs()  # stateless parts, built once
        # httpx's pool does work quadratic in its connections on every request, and rescans every queued
        # request whenever a connection frees up. So requests queue here (O(1) per waiter), at most
        # ``max_connections`` are in flight, and they are spread over small pools.
        self._slots = asyncio.Semaphore(max_connections)
        shards = max(1, max_connections // CONNECTIONS_PER_POOL)
        per_pool = max(1, max_connections // shards)
        tls = ssl.create_default_context()  # one for all pools: loading the CA bundle is the slow part
        self._pools = [self._new_pool(per_pool, tls) for _ in range(shards)]
        self._next_pool = itertools.cycle(self._pools)

    def _new_pool(self, connections: int, tls: ssl.SSLContext) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=tls,
            base_url=self._credentials.url + "/",
            headers=client_headers(self._credentials.token),
            timeout=httpx.Timeout(self.timeout, pool=None),
            limits=httpx.Limits(
                max_connections=connections,
                max_keepalive_connections=connections,
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
        )

    @property
    def url(self) -> str:
        return self._credentials.url

    def __repr__(self) -> str:
        return f"AsyncSaturnClient(url={self.url!r})"

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def _send(
        self,
        target: RequestTarget,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """One HTTP exchange, no retry, bounded as a whole by ``timeout`` (the wait for a pool slot aside).

        Redirects are never followed. Every failure is a :class:`SaturnError`.
        """
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    response = await next(self._next_pool).request(
                        target.method, target.path.lstrip("/"), json=json, params=params
                    )
            except (TimeoutError, httpx.HTTPError, httpx.InvalidURL) as error:
                raise exchange_failure(
                    target,
                    error,
                    timed_out=isinstance(error, TimeoutError | httpx.TimeoutException),
                    transient=isinstance(error, TRANSIENT_HTTPX_ERRORS)
                    and not isinstance(error, httpx.UnsupportedProtocol),
                    timeout=self.timeout,
                    url=self.url,
                    scheme_assumed=self._credentials.scheme_assumed,
                ) from None
        return decode(
            target,
            response.status_code,
            response.content,
            response.reason_phrase,
            response.headers,
            expect=expect,
            shape=shape,
        )

    async def _request(
        self,
        method: str,
        path: str,
        resource: str,
        resource_id: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """One request under the retry policy; a bad answer found by ``shape`` is retried like any transient."""
        target = RequestTarget(method, path, resource, resource_id)
        async for attempt in AsyncRetrying(**self._retry_settings):
            with attempt:
                return await self._send(target, json=json, params=params, expect=expect, shape=shape)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def get_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """A resource of any kind of :data:`~.kinds.RESOURCES` by id (a job run: ``"<job id>/<run name>"``)."""
        resource = resource_wire(kind)
        plan = resource.read_plan(resource_id)
        if plan.list_field is None:
            return await self._request("GET", plan.path, resource.label, str(resource_id), shape=plan.shape)
        walk = PageWalk(plan.path, plan.list_field, None, self.page_limits)
        while walk.query is not None:
            items = await self._request(
                "GET", plan.path, resource.label, str(resource_id), params=walk.query, shape=walk.take
            )
            for item in items:
                if plan.match is not None and plan.match(item):
                    return plan.shape(item)
        raise missing_from_list(resource.label, str(resource_id), plan.path)

    async def stop_resource(self, kind: str, resource_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a resource of any kind (a job run: that run only); returns it as it is then."""
        resource = resource_wire(kind)
        path, shape = resource.stop_plan(resource_id)
        answer = await self._request("POST", path, resource.label, str(resource_id), shape=shape)
        return answer if shape is not None else await self.get_resource(kind, resource_id)


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], AsyncSaturnClient]] = (
    weakref.WeakKeyDictionary()
)


def shared_async_client(
    credentials: SaturnCredentials, *, timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None
) -> AsyncSaturnClient:
    """The client of the running event loop for these credentials and settings, made on first use."""
    loop = asyncio.get_running_loop()
    policy = retry or RetryPolicy()
    key = (credentials.url, credentials.token, timeout, policy)
    clients = _SHARED.setdefault(loop, {})
    client = clients.get(key)
    if client is None:
        client = clients[key] = AsyncSaturnClient(credentials, timeout=timeout, retry=policy)
    return client
