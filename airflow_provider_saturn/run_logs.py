"""A job run's log in the Airflow task log: what a wait (sync, or the trigger's) has read of it so far.

The operator's sync wait and the trigger both hand each poll's new lines to :meth:`RunLog.absorb`, which writes
them to the task log (Airflow 3 shows a trigger's log lines in the same task log) and keeps the last ones, so a
failure can show how the run ended. Reading the log never fails a wait: a failed read is logged and tried
again at the next poll.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from airflow_provider_saturn.client.logs import LogCursor, format_line

TAIL_LINES = 20
TAIL_KEY = "log_tail"  # the event key that carries the tail from the trigger to the operator


class RunLog:
    """Where a run's log was read up to (``cursor``), and its last ``tail_size`` lines.

    :param cursor: where an earlier reader stopped (JSON form of :class:`~.client.logs.LogCursor`).
    """

    def __init__(self, cursor: dict[str, Any] | None = None, tail_size: int = TAIL_LINES) -> None:
        self.cursor = LogCursor.from_json(cursor)
        self.tail: deque[str] = deque(maxlen=tail_size)
        self.lines_read = 0
        self._failing = False

    def absorb(self, lines: Iterable[dict[str, Any]], log: Any) -> None:
        """Write new lines to the task log and keep the last ones."""
        for line in lines:
            text = format_line(line)
            log.info("%s", text)
            self.tail.append(text)
            self.lines_read += 1
        self._failing = False

    def read_failed(self, error: Exception, log: Any) -> None:
        """A read of the log failed: say so once per run of failures; the wait goes on."""
        if not self._failing:
            log.warning("Could not read the job run's log (%s); the wait goes on, and so will the log", error)
        self._failing = True

    def with_tail(self, message: str) -> str:
        """``message`` followed by the last lines of the log, when some were read."""
        return with_log_tail(message, list(self.tail))


def with_log_tail(message: str, tail: list[str]) -> str:
    """A failure message with the run's last log lines under it."""
    if not tail:
        return message
    return f"{message}\nLast {len(tail)} lines of its log:\n" + "\n".join(tail)
