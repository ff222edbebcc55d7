"""What one scenario saw and checked: notes (counts, ids, which worker ran which try) and checks that pass or fail.

A failed ``check`` is recorded and the scenario goes on, so that one run reports every broken expectation; a
failed ``require`` stops the scenario (nothing after it would mean anything).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class ScenarioFailed(Exception):
    """A required expectation did not hold; the scenario cannot go on."""


@dataclass
class Evidence:
    """Notes and checks of one scenario, in the order they were made."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def note(self, text: str) -> None:
        self.lines.append(text)

    def check(self, ok: bool, text: str) -> bool:
        """Record an expectation; a failed one fails the scenario at its end."""
        if ok:
            self.lines.append(f"ok: {text}")
        else:
            self.lines.append(f"FAILED: {text}")
            self.failures.append(text)
        return ok

    def require(self, ok: bool, text: str) -> None:
        """An expectation the rest of the scenario depends on: a failed one ends it."""
        if not self.check(ok, text):
            raise ScenarioFailed(text)

    def elapsed(self) -> float:
        """Seconds since the scenario started."""
        return time.monotonic() - self.started
