"""A wall-clock deadline on each whole HTTP attempt of the sync client (``requests``).

``requests``' timeout bounds each socket operation, not the exchange: a server that sends one byte every
half second keeps a call with ``timeout=2`` alive as long as it likes. Here the connection pool tells the
attempt which socket it talks over (:class:`DeadlineAdapter`), and one shared watchdog thread shuts that
socket down when the attempt's deadline passes. The blocked read then ends at once, and the
client reports a timeout. (The async client bounds an attempt with ``asyncio.timeout``.)
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger(__name__)

# A connection still being set up has no socket yet: look again this often until it has one.
NO_SOCKET_RECHECK_SECONDS = 0.05


class Alarm:
    """A callback armed for a moment; :meth:`cancel` before then and it never runs."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Watchdog:
    """Runs callbacks at their moments from one daemon thread; arming and cancelling cost a heap push.

    Cancelled alarms stay in the heap until their moment comes round, so arming never wakes the thread
    unless the new moment is earlier than the one it sleeps towards. Safe across ``fork``: the child starts
    a thread of its own on first use.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._sleeping_until = math.inf

    def arm(self, delay: float, callback: Callable[[], None]) -> Alarm:
        """Run ``callback`` in ``delay`` seconds unless the returned alarm is cancelled first."""
        alarm = Alarm(callback)
        moment = time.monotonic() + max(delay, 0.0)
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="saturn-request-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (moment, next(self._order), alarm))
            if moment < self._sleeping_until:
                self._condition.notify()
        return alarm

    def _next_due(self) -> Alarm:
        with self._condition:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    self._sleeping_until = -math.inf  # busy: arming need not wake it
                    return heapq.heappop(self._heap)[2]
                self._sleeping_until = self._heap[0][0] if self._heap else math.inf
                self._condition.wait(None if not self._heap else self._sleeping_until - now)

    def _run(self) -> None:
        while True:
            alarm = self._next_due()
            if alarm.cancelled:
                continue
            try:
                alarm.callback()
            except Exception:  # a deadline callback must never kill the watchdog
                log.exception("A Saturn request deadline callback failed")


WATCHDOG = Watchdog()
_current = threading.local()


class AttemptDeadline:
    """The deadline of one HTTP attempt: at its moment, the attempt's connection is shut down.

    Use as a context manager around the whole exchange, body read included; :attr:`expired` then tells a
    transport error caused by the deadline from any other.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._finished = False
        self._lock = threading.Lock()
        self._alarm: Alarm | None = None

    def __enter__(self) -> AttemptDeadline:
        _current.attempt = self
        self._alarm = WATCHDOG.arm(self.seconds, self._expire)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._finished = True
        if self._alarm is not None:
            self._alarm.cancel()
        _current.attempt = None

    def use_socket(self, sock: socket.socket | None) -> None:
        """Called by the pool and its connections with the socket this attempt talks over."""
        if sock is not None:
            self._socket = sock

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            sock = self._socket
            if sock is None:  # still connecting (bounded by the connect timeout): try again shortly
                self._alarm = WATCHDOG.arm(NO_SOCKET_RECHECK_SECONDS, self._expire)
                return
        with contextlib.suppress(OSError):  # already closed
            # The plain socket's shutdown, also under TLS: it wakes a read blocked in another thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _report_socket(sock: socket.socket | None) -> None:
    attempt: AttemptDeadline | None = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.use_socket(sock)


class _AttemptAwareConnection:
    """Tells the attempt running in this thread about the socket of a connection it opens.

    (The socket, not the connection: once an answer says ``Connection: close``, the connection lets go of
    its socket, which the answer still reads from.)
    """

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _report_socket(self.sock)  # type: ignore[attr-defined]


class _HTTPConnection(_AttemptAwareConnection, HTTPConnection):
    pass


class _HTTPSConnection(_AttemptAwareConnection, HTTPSConnection):
    pass


class _AttemptAwarePool:
    """Tells the attempt running in this thread about the socket of a kept-alive connection it reuses."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        _report_socket(connection.sock)
        return connection


class _HTTPPool(_AttemptAwarePool, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_AttemptAwarePool, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose pools (proxied ones too) report their connections to :class:`AttemptDeadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager
