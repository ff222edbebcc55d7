"""Bounded waits and free ports: nothing in the harness waits without a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """A bounded wait ran out; the message says what was waited for and what was last seen."""


class GiveUp(Exception):
    """Raised by a probe when waiting longer cannot help (a process died): ``wait_for`` lets it through at once."""


class SetupError(GiveUp):
    """The deployment cannot come up: something is missing or a process died; the message says what and where."""


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than ``None``/``False``; raise ``WaitTimeout`` after
    ``timeout`` seconds. Exceptions of ``probe`` count as "not yet" (the last one is in the message), but
    ``GiveUp``, which ends the wait at once."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            result = probe()
        except GiveUp:
            raise
        except Exception as error:  # a server not up yet, a row not there yet
            result, last_error = None, f"; last error: {type(error).__name__}: {error}"
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            seen = f"; {describe()}" if describe is not None else ""
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{seen}{last_error}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
