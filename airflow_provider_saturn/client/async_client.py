"""``AsyncSaturnClient``: the status reads and stops that waits need, over ``httpx`` with pooled connections.

One client per event loop and credentials is shared by every wait (:func:`shared_async_client`), so a
triggerer holding thousands of waits keeps a bounded pool of keep-alive connections instead of one per wait.
A client serves the event loop it is first used in; the shared ones of a loop are dropped once it is closed.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying

from airflow_provider_saturn.client.credentials import SaturnCredentials
from airflow_provider_saturn.client.defaults import DEFAULT_TIMEOUT, MAX_ANSWER_BYTES, checked_timeout, client_headers
from airflow_provider_saturn.client.errors import SaturnConfigError
from airflow_provider_saturn.client.kinds import resource_wire
from airflow_provider_saturn.client.paging import PageLimits, PageWalk
from airflow_provider_saturn.client.responses import (
    AnswerBody,
    Expect,
    RequestTarget,
    decode,
    exchange_failure,
    missing_from_list,
    unsendable_value,
)
from airflow_provider_saturn.client.retry import RetryPolicy
from airflow_provider_saturn.client.server_clock import clock_reading

MAX_CONNECTIONS = 64
CONNECTIONS_PER_POOL = 8
# Longer than a poll interval, so that a wait finds its pooled connection still open at its next poll.
KEEPALIVE_SECONDS = 30.0
# Failures of an exchange that another attempt may not meet. (UnsupportedProtocol, a TransportError too, is
# a set-up problem that cannot happen here: the Saturn URL is always http or https.)
TRANSIENT_HTTPX_ERRORS = (httpx.TransportError, httpx.DecodingError)
# The most clients :func:`shared_async_client` keeps for one event loop (distinct URLs, tokens or settings).
MAX_SHARED_CLIENTS_PER_LOOP = 16

# One answer: the status, the reason, the headers, the decoded body, and our clock when the request went out
# and when the answer's head came back.
Answer = tuple[int, str, httpx.Headers, bytes, datetime, datetime]


def checked_max_connections(max_connections: object) -> int:
    """A number of connections: a whole number of at least 1, else ``ValueError``."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise ValueError(f"max_connections must be a whole number of at least 1, not {max_connections!r}")
    return max_connections


class AsyncSaturnClient:
    """Async reads of Jupyter servers and Dask clusters (and their stops), under the same retry policy.

    :param credentials: the Saturn URL and token.
    :param timeout: seconds that each HTTP attempt may take as a whole (waiting for a free pooled connection
        is not counted).
    :param retry: the retry policy for dropped connections, timeouts, 429 and 5xx.
    :param max_connections: the most TCP connections this client keeps open at once (at least 1).

    A client belongs to the event loop it is first used in: using it from another loop raises
    :class:`SaturnConfigError` (make one per loop, or use :func:`shared_async_client`). Answers are read up to
    :attr:`max_answer_bytes`, decoded.
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
        self._secrets = (credentials.token,)  # masked in every error message built from an answer
        self.page_limits = page_limits or PageLimits()
        self.timeout = checked_timeout(timeout)
        self.retry_policy = retry or RetryPolicy()
        self.max_connections = checked_max_connections(max_connections)
        self.max_answer_bytes = MAX_ANSWER_BYTES  # the largest answer read, decoded
        self._retry_settings = self.retry_policy.tenacity_kwargs()  # stateless parts, built once
        self._tls = ssl.create_default_context()  # one for all pools: loading the CA bundle is the slow part
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: list[httpx.AsyncClient] = []
        self._free_slots: asyncio.LifoQueue[httpx.AsyncClient] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()  # set whenever no request is in flight
        self._open()

    def _open(self) -> asyncio.LifoQueue[httpx.AsyncClient]:
        """Make the pools, and the queue of their free connection slots: each pool once per connection.

        httpx's pool does work quadratic in its connections on every request, and rescans every queued
        request whenever a connection frees up. So requests wait here for a slot of a pool that has one free
        (O(1) per waiter, before the attempt's timer starts), and they are spread over small pools. Last
        in, first out: a pool just used still has its connection open.
        """
        shards = max(1, self.max_connections // CONNECTIONS_PER_POOL)
        per_pool = max(1, self.max_connections // shards)
        self._pools = [self._new_pool(per_pool) for _ in range(shards)]
        free_slots: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        for _ in range(per_pool):
            for pool in self._pools:
                free_slots.put_nowait(pool)
        self._free_slots = free_slots
        return free_slots

    def _new_pool(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._tls,
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
        """Close the pooled connections; a later request opens new ones.

        From another event loop than the client's: refused, unless that loop is closed (its connections went
        with it, and are only let go of).
        """
        if self._loop is not None and self._loop is not asyncio.get_running_loop() and not self._loop.is_closed():
            raise self._wrong_loop()
        pools, self._pools, self._free_slots = self._pools, [], None
        if self._loop is not None and self._loop.is_closed():
            return
        for pool in pools:
            await pool.aclose()

    async def _close_when_idle(self) -> None:
        """:meth:`aclose` once no request is in flight (for a shared client that was let go of)."""
        while self._in_flight:
            self._idle.clear()
            await self._idle.wait()
        await self.aclose()

    def _bind_to_loop(self) -> None:
        """Take the running event loop as this client's on first use; refuse any other one after that."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                raise self._wrong_loop()
            self._loop = loop

    def _wrong_loop(self) -> SaturnConfigError:
        state = "closed now" if self._loop is not None and self._loop.is_closed() else "still running"
        return SaturnConfigError(
            f"This AsyncSaturnClient belongs to the event loop it was first used in ({state}), not to this one: "
            "its pooled connections cannot move between loops. Make one client per event loop (as "
            "shared_async_client() does)."
        )

    async def _send(
        self,
        target: RequestTarget,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        expect: Expect = "object",
        shape: Callable[[dict[str, Any]], Any] | None = None,
        dated: bool = False,
    ) -> Any:
        """One HTTP exchange, no retry, bounded as a whole by ``timeout`` (the wait for a free connection slot
        aside); ``dated``: the answer and Saturn's clock by its ``Date`` header (a
        :class:`~.server_clock.ClockReading`, or ``None``).

        Redirects are never followed. Every failure is a :class:`SaturnError`.
        """
        self._bind_to_loop()
        free_slots = self._free_slots if self._free_slots is not None else self._open()
        self._in_flight += 1
        try:
            pool = await free_slots.get()
            try:
                status_code, reason, headers, content, sent, received = await self._exchange(pool, target, json, params)
            finally:
                free_slots.put_nowait(pool)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        answer = decode(
            target, status_code, content, reason, headers, expect=expect, shape=shape, sent=json, secrets=self._secrets
        )
        return (answer, clock_reading(headers.get("date"), sent, received)) if dated else answer

    async def _exchange(
        self, pool: httpx.AsyncClient, target: RequestTarget, json: Any, params: dict[str, Any] | None
    ) -> Answer:
        """Send the request through ``pool`` and read its answer, at most ``max_answer_bytes`` of it decoded,
        all within ``timeout``."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read_answer(pool, target, json, params)
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
        except UnicodeEncodeError as error:  # a query value or body text that cannot be encoded: nothing was sent
            raise unsendable_value(target, error) from None
        except UnicodeError as error:  # the host name fails IDNA: a set-up problem
            raise exchange_failure(
                target,
                error,
                timed_out=False,
                transient=False,
                timeout=self.timeout,
                url=self.url,
                scheme_assumed=False,
            ) from None

    async def _read_answer(
        self, pool: httpx.AsyncClient, target: RequestTarget, json: Any, params: dict[str, Any] | None
    ) -> Answer:
        """The answer, its body read raw and decoded by :class:`AnswerBody` (httpx would inflate each network
        chunk whole); leaving the stream closes a connection whose answer was not read to its end."""
        sent = datetime.now(UTC)
        async with pool.stream(target.method, target.path.lstrip("/"), json=json, params=params) as response:
            received = datetime.now(UTC)
            headers = response.headers
            body = AnswerBody(
                target,
                self.max_answer_bytes,
                status_code=response.status_code,
                content_encoding=headers.get("content-encoding"),
                content_length=headers.get("content-length"),
            )
            async for chunk in response.aiter_raw():
                body.add(chunk)
            return response.status_code, response.reason_phrase, headers, body.content(), sent, received

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
        dated: bool = False,
    ) -> Any:
        """One request under the retry policy; a bad answer found by ``shape`` is retried like any transient.
        ``dated``: the answer and Saturn's clock by the ``Date`` header of the attempt that got it."""
        target = RequestTarget(method, path, resource, resource_id)
        async for attempt in AsyncRetrying(**self._retry_settings):
            with attempt:
                return await self._send(target, json=json, params=params, expect=expect, shape=shape, dated=dated)
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


_SHARED: dict[asyncio.AbstractEventLoop, OrderedDict[tuple[Any, ...], AsyncSaturnClient]] = {}
_SHARED_LOCK = threading.Lock()  # event loops in several threads may ask at once
_CLOSING: set[asyncio.Task[None]] = set()  # closes of clients let go of, referenced until done


def shared_async_client(
    credentials: SaturnCredentials, *, timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None
) -> AsyncSaturnClient:
    """The client of the running event loop for these credentials and settings, made on first use.

    Clients of event loops that are closed are dropped. A loop keeps at most
    ``MAX_SHARED_CLIENTS_PER_LOOP`` clients (a rotated token makes a new one): the least recently asked for
    is let go of, and closed once no request of it is in flight (a wait still holding it can go on using it:
    it opens new connections).
    """
    loop = asyncio.get_running_loop()
    policy = retry or RetryPolicy()
    key = (credentials.url, credentials.token, timeout, policy)
    with _SHARED_LOCK:
        _forget_closed_loops()
        clients = _SHARED.setdefault(loop, OrderedDict())
        client = clients.get(key)
        if client is not None:
            clients.move_to_end(key)
            return client
        client = clients[key] = AsyncSaturnClient(credentials, timeout=timeout, retry=policy)
        while len(clients) > MAX_SHARED_CLIENTS_PER_LOOP:
            _, least_recent = clients.popitem(last=False)
            _close_later(loop, least_recent)
    return client


def _forget_closed_loops() -> None:
    """Drop the clients of closed event loops, and their pending closes. (Without its loop a client cannot be
    closed: its sockets close when it is collected.)"""
    for loop in [loop for loop in _SHARED if loop.is_closed()]:
        del _SHARED[loop]
    for task in [task for task in _CLOSING if task.get_loop().is_closed()]:
        _CLOSING.discard(task)


def _close_later(loop: asyncio.AbstractEventLoop, client: AsyncSaturnClient) -> None:
    """Close ``client`` in a task of ``loop`` once it is idle; the task is referenced until it is done."""
    task = loop.create_task(client._close_when_idle())
    _CLOSING.add(task)
    task.add_done_callback(_closed)


def _closed(task: asyncio.Task[None]) -> None:
    with _SHARED_LOCK:  # other threads' loops may be reading the set
        _CLOSING.discard(task)
