"""One retry policy for the sync and the async client: what is retried, how long to wait, when to give up.

Only transient failures are retried: dropped connections, timeouts, answers that are not the JSON promised,
408, 429 and 5xx. Every other 4xx is final.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from airflow_provider_saturn.client.errors import SaturnTransientError

if TYPE_CHECKING:
    from tenacity.stop import StopBaseT

log = logging.getLogger(__name__)

# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry; other 5xx may.
PERMANENT_SERVER_ERRORS = frozenset({501, 505})


def is_retryable_status(status_code: int) -> bool:
    """429, 408 and 5xx (but 501 and 505) are worth another attempt; no other status is."""
    return status_code in (408, 429) or (500 <= status_code <= 599 and status_code not in PERMANENT_SERVER_ERRORS)


@dataclass(frozen=True)
class RetryPolicy:
    """How the clients retry transient failures.

    :param max_attempts: attempts in all, the first included (1 disables retries).
    :param max_total_seconds: give up once this much time has passed since the first attempt; no wait between
        attempts runs past it (a call can end later by at most the attempt then under way).
    :param initial_wait: the first backoff in seconds; it doubles on each retry, with jitter.
    :param max_wait: the longest single backoff (a ``Retry-After`` above it is capped to it).
    """

    max_attempts: int = 5
    max_total_seconds: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        times = (self.max_total_seconds, self.initial_wait, self.max_wait)
        if not all(math.isfinite(value) for value in times):
            raise ValueError("RetryPolicy times must be finite numbers of seconds")
        if self.max_total_seconds <= 0 or self.initial_wait < 0 or self.max_wait < 0:
            raise ValueError("RetryPolicy times must be positive")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> RetryPolicy:
        """Build a policy from plain values (connection extras, trigger kwargs); unknown keys are refused."""
        if not values:
            return cls()
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown retry settings {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**{key: type(getattr(cls, key))(value) for key, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-only values, for trigger serialization."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` implementing this policy."""
        stop: StopBaseT = stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_seconds)
        return {
            "retry": retry_if_exception_type(SaturnTransientError),
            "stop": stop,
            "wait": self._wait(),
            "before_sleep": _log_retry,
            "reraise": True,
        }

    def _wait(self) -> Callable[[RetryCallState], float]:
        cap, initial, budget = self.max_wait, self.initial_wait, self.max_total_seconds

        def wait(state: RetryCallState) -> float:
            """The backoff (or the server's ``Retry-After``), capped by ``max_wait`` and by what is left of
            ``max_total_seconds``: no wait runs past the time given to the whole call."""
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                wanted = float(min(max(retry_after, 0.0), cap))
            else:
                backoff = initial * 2 ** (state.attempt_number - 1) + random.uniform(0, initial)  # noqa: S311
                wanted = float(min(backoff, cap))
            left = budget - (state.seconds_since_start or 0.0)
            return max(min(wanted, left), 0.0)

        return wait


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("Saturn request attempt %d failed (%s); retrying in %.1fs", state.attempt_number, error, wait)
