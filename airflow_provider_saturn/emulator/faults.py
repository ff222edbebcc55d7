"""Fault injection: a share of 5xx, 429 with ``Retry-After``, dropped connections and added latency.

Deterministic under a seed: the n-th API request meets the same fault in every run with the same settings.
Tests can also queue exact faults for the next requests (``queue``).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("error", "throttle", "drop")


@dataclass
class FaultSettings:
    """Shares are probabilities per API request; ``latency`` seconds are added to every API request."""

    error_rate: float = 0.0
    error_status: int = 503
    throttle_rate: float = 0.0
    retry_after: float = 1.0
    drop_rate: float = 0.0
    latency: float = 0.0
    seed: int = 0
    queue: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("error_rate", "throttle_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.error_rate + self.throttle_rate + self.drop_rate > 1.0:
            raise ValueError("error_rate + throttle_rate + drop_rate must not exceed 1")
        unknown = [kind for kind in self.queue if kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"Unknown faults {unknown}; known: {list(FAULT_KINDS)}")


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._random = random.Random(settings.seed)  # noqa: S311 - reproducible test faults
            self._queue: deque[str] = deque(settings.queue)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {**asdict(self.settings), "queue": list(self._queue)}

    def next_fault(self) -> str | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            s = self.settings
            if not (s.error_rate or s.throttle_rate or s.drop_rate):
                return None
            draw = self._random.random()
            for kind, share in (("error", s.error_rate), ("throttle", s.throttle_rate), ("drop", s.drop_rate)):
                if draw < share:
                    return kind
                draw -= share
            return None
