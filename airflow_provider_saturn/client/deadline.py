"""A wall-clock deadline on each whole HTTP attempt of the sync client (``requests``).

``requests``' timeout bounds each socket operation, not the exchange: a server that sends one byte every
half second keeps a call with ``timeout=2`` alive as long as it likes. Here the connection pool tells the
attempt which socket it talks over (:class:`DeadlineAdapter`), and one shared watchdog thread shuts that
socket down when the attempt's deadline passes. The blocked read then ends at once, and the
client reports a timeout. (The async client bounds an attempt with ``asyncio.timeout``.)

What the deadline covers, and what it cannot:

* A new connection's socket is reported as soon as its TCP connection is made, so a proxy that drips its
  answer to ``CONNECT`` is cut at the deadline like a server that drips its body. The TCP connect and the
  TLS handshake (which Python bounds as a whole by the socket's timeout) get what is left of the deadline.
* Name resolution (DNS) runs inside ``getaddrinfo``, which no other thread can interrupt: a resolver that
  takes 10 s holds an attempt with ``timeout=2`` for 10 s.
* A host name with several addresses is tried address after address, each with what was left of the
  deadline when connecting began: with N addresses that do not answer, an attempt can take N times its
  timeout. (The async client has neither limit: ``asyncio.timeout`` cancels the resolution and connects.)

An attempt forgets its socket when the connection goes back to the pool, before another thread can take it,
and the watchdog shuts a socket down only while holding the attempt's lock: one attempt's deadline never
cuts another attempt's exchange.
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
# The shortest connect timeout given once the deadline is (nearly) past: a connect gets a chance to fail fast.
MIN_CONNECT_SECONDS = 0.01
# Cancelled alarms are dropped from the heap once there are this many and they are half of it.
COMPACT_AFTER_CANCELLED = 256


def _do_nothing() -> None:
    """What a cancelled alarm holds instead of its callback, so that the heap keeps nothing alive."""


class Alarm:
    """A callback armed for a moment; cancel it (:meth:`Watchdog.cancel`) before then and it never runs."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False


class Watchdog:
    """Runs callbacks at their moments from one daemon thread; arming and cancelling cost a heap push.

    A cancelled alarm lets go of its callback at once, and stays in the heap (a few bytes) until its moment
    comes round or cancelled alarms are half of the heap, when they are all dropped. Arming never wakes the
    thread unless the new moment is earlier than the one it sleeps towards. Safe across ``fork``: the child
    starts a thread of its own on first use.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._cancelled = 0  # cancelled alarms still in the heap (an estimate: compaction recounts)
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

    def cancel(self, alarm: Alarm) -> None:
        """Make sure ``alarm`` never runs, and drop its callback (and what the callback holds)."""
        with self._condition:
            if alarm.cancelled:
                return
            alarm.cancelled = True
            alarm.callback = _do_nothing
            self._cancelled += 1
            if self._cancelled >= COMPACT_AFTER_CANCELLED and 2 * self._cancelled >= len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        """Alarms in the heap, cancelled ones included (for tests and diagnostics)."""
        with self._condition:
            return len(self._heap)

    def _next_due(self) -> Callable[[], None]:
        with self._condition:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled = max(self._cancelled - 1, 0)
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    self._sleeping_until = -math.inf  # busy: arming need not wake it
                    alarm = heapq.heappop(self._heap)[2]
                    callback, alarm.callback = alarm.callback, _do_nothing
                    return callback
                self._sleeping_until = self._heap[0][0] if self._heap else math.inf
                self._condition.wait(None if not self._heap else self._sleeping_until - now)

    def _run(self) -> None:
        while True:
            callback = self._next_due()
            try:
                callback()
            except Exception:  # a deadline callback must never kill the watchdog
                log.exception("A Saturn request deadline callback failed")
            del callback  # hold nothing while sleeping


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
        self._ends_at = math.inf
        self._socket: socket.socket | None = None
        self._released = False  # the connection went back to the pool: nothing of this attempt's to cut
        self._finished = False
        self._lock = threading.Lock()
        self._alarm: Alarm | None = None
        self._outer: AttemptDeadline | None = None

    def __enter__(self) -> AttemptDeadline:
        self._outer = getattr(_current, "attempt", None)
        _current.attempt = self
        self._ends_at = time.monotonic() + self.seconds
        self._alarm = WATCHDOG.arm(self.seconds, self._expire)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._finished = True
            self._socket = None
            alarm, self._alarm = self._alarm, None
        if alarm is not None:
            WATCHDOG.cancel(alarm)
        _current.attempt, self._outer = self._outer, None

    def bounded(self, timeout: object) -> float:
        """``timeout`` (seconds, or none) cut to what is left of the deadline, and never below a tiny minimum."""
        left = max(self._ends_at - time.monotonic(), MIN_CONNECT_SECONDS)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            return min(float(timeout), left)
        return left

    def use_socket(self, sock: Any) -> None:
        """Called by the pool and its connections with the socket this attempt talks over."""
        if not isinstance(sock, socket.socket):  # TLS through a TLS proxy: urllib3's SSLTransport wraps one
            sock = getattr(sock, "socket", None)
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                self._released = False

    def release_socket(self) -> None:
        """Called by the pool when this attempt's connection goes back to it, for other attempts to take."""
        with self._lock:
            self._socket = None
            self._released = True

    def _expire(self) -> None:
        with self._lock:
            if self._finished or self._released:
                return
            self.expired = True
            if self._socket is None or self._socket.fileno() == -1:
                # Still connecting (bounded by the connect timeout), or the TLS handshake took the socket over
                # (bounded by what was left): try again shortly, until the attempt reports its next socket.
                self._alarm = WATCHDOG.arm(NO_SOCKET_RECHECK_SECONDS, self._expire)
                return
            with contextlib.suppress(OSError):  # closed meanwhile
                # The plain socket's shutdown, also under TLS: it wakes a read blocked in another thread.
                # Under the lock, so that the connection cannot meanwhile go back to the pool and on to another
                # attempt.
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


def current_attempt() -> AttemptDeadline | None:
    """The attempt running in this thread, if any."""
    return getattr(_current, "attempt", None)


class _AttemptAwareConnection:
    """Tells the attempt running in this thread about the socket of a connection it opens, as soon as it
    exists, and gives the connection's set-up no more time than is left of the attempt.

    (The socket, not the connection: once an answer says ``Connection: close``, the connection lets go of
    its socket, which the answer still reads from.)
    """

    timeout: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        attempt = current_attempt()
        if attempt is None:
            return super()._new_conn()  # type: ignore[misc]
        self.timeout = attempt.bounded(self.timeout)  # the TCP connect (each address in turn)
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        attempt.use_socket(sock)  # from here on, the watchdog can cut a proxy's CONNECT answer
        sock.settimeout(attempt.bounded(sock.gettimeout()))  # the proxy tunnel and the TLS handshake
        return sock

    def _tunnel(self) -> None:
        super()._tunnel()  # type: ignore[misc]
        attempt = current_attempt()
        if attempt is not None and self.sock is not None:
            self.sock.settimeout(attempt.bounded(self.sock.gettimeout()))  # the TLS handshake through it

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        attempt = current_attempt()
        if attempt is not None:
            attempt.use_socket(self.sock)  # under TLS, the wrapped socket (the raw one was handed over to it)


class _HTTPConnection(_AttemptAwareConnection, HTTPConnection):
    pass


class _HTTPSConnection(_AttemptAwareConnection, HTTPSConnection):
    pass


class _AttemptAwarePool:
    """Tells the attempt running in this thread about the socket of a kept-alive connection it takes, and
    makes it forget that socket when the connection goes back to the pool."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        attempt = current_attempt()
        if attempt is not None:
            attempt.use_socket(connection.sock)
        return connection

    def _put_conn(self, conn: Any) -> None:
        attempt = current_attempt()
        if attempt is not None:
            attempt.release_socket()
        super()._put_conn(conn)  # type: ignore[misc]


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
