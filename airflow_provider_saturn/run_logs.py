"""A job run's log in the Airflow task log: what a wait (sync, or the trigger's) has read of it so far.

The operator's sync wait and the trigger both hand each poll's new lines to :meth:`RunLog.absorb` (the trigger,
line by line, to :meth:`RunLog.write`), which writes them to the task log (Airflow 3 shows a trigger's log
lines in the same task log) and keeps the last ones, so a failure can show how the run ended. Reading the log
never fails a wait: a failed read is logged and tried again at the next poll, from the last line delivered.

What a run writes is hostile: every line goes through Airflow's secrets masker (values it knows, such as
connection passwords and what was given to ``mask_secret``, read ``***``) and is cut, in the task log at
``MAX_LINE_CHARS``; the tail carried by failure messages and trigger events (stored in Airflow's database)
holds at most ``TAIL_LINES`` lines of ``MAX_TAIL_LINE_CHARS``, ``MAX_TAIL_CHARS`` in all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.logs import LogCursor, format_line
from airflow_provider_saturn.client.wire import shorten

if TYPE_CHECKING:  # only @task.saturn's runs have frames: its package is not imported for every operator
    from airflow_provider_saturn.remote.frames import FrameReader

TAIL_LINES = 20
MAX_LINE_CHARS = 4000  # one line of the run's log in the task log
MAX_TAIL_LINE_CHARS = 1000  # one line of the tail in a failure message or a trigger event
MAX_TAIL_CHARS = 8000  # the whole tail: its newest lines that fit
TAIL_KEY = "log_tail"  # the event key that carries the tail from the trigger to the operator
# Reads of a followed log once its run has ended, while each one is cut short by its request bound (see
# :data:`~.client.logs.MAX_LOG_REQUESTS_PER_READ`): a log that grew fast is shown to its end.
FINAL_LOG_READS = 5
LOG_LEFT_IN_SATURN = "The job run's log goes on beyond what this wait reads at its end: the rest is in Saturn"


MAX_MASKED_VALUES = 200  # environment values of one job registered with the secrets masker


def masked(text: str) -> str:
    """``text`` with the secrets Airflow's secrets masker knows replaced by ``***``."""
    from airflow_provider_saturn.compat import redact

    value = redact(text)
    return value if isinstance(value, str) else text


def mask_job_secrets(job: Any) -> int:
    """Register the values of a job's ``environment_variables`` with Airflow's secrets masker (in this process),
    so that a run that prints one shows ``***`` in the task log; returns how many were registered."""
    from airflow_provider_saturn.compat import mask_secret

    variables = job.get("environment_variables") if isinstance(job, dict) else None
    if not isinstance(variables, dict):
        return 0
    from airflow_provider_saturn.lineage import PARENT_VARIABLES

    # The OpenLineage parent's parts are no secret, and short ones ("default") would be masked everywhere.
    values = [
        value
        for name, value in variables.items()
        if isinstance(value, str) and value.strip() and name not in PARENT_VARIABLES
    ]
    for value in values[:MAX_MASKED_VALUES]:
        mask_secret(value)
    return min(len(values), MAX_MASKED_VALUES)


def bounded_tail(lines: Iterable[Any]) -> list[str]:
    """The newest of ``lines`` that fit a tail: at most ``TAIL_LINES``, each masked and cut at
    ``MAX_TAIL_LINE_CHARS``, ``MAX_TAIL_CHARS`` in all."""
    kept: list[str] = []
    size = 0
    for line in reversed(list(lines)[-TAIL_LINES:]):
        text = shorten(masked(str(line)), MAX_TAIL_LINE_CHARS)
        size += len(text) + 1
        if size > MAX_TAIL_CHARS:
            break
        kept.append(text)
    return kept[::-1]


class RunLog:
    """Where a run's log was read up to (``cursor``), and its last ``tail_size`` lines.

    :param cursor: where an earlier reader stopped (JSON form of :class:`~.client.logs.LogCursor`).
    """

    def __init__(
        self, cursor: dict[str, Any] | None = None, tail_size: int = TAIL_LINES, *, frames: FrameReader | None = None
    ) -> None:
        self.cursor = LogCursor.from_json(cursor)
        self.frames = frames  # a ``@task.saturn`` run's: its frame lines are taken, never shown
        self.tail: deque[str] = deque(maxlen=tail_size)
        self.lines_read = 0
        self._failing = False

    def write(self, line: dict[str, Any], log: Any) -> None:
        """One new line into the task log (masked, cut), and into the tail; a frame line (see ``frames``) is taken
        by its reader instead, and only what the line held besides it is shown."""
        if self.frames is not None:
            shown = self.frames.feed(line["content"])
            if not shown:
                return
            line = {**line, "content": shown}
        text = shorten(masked(format_line(line)), MAX_LINE_CHARS)
        log.info("%s", text)
        self.tail.append(shorten(text, MAX_TAIL_LINE_CHARS))
        self.lines_read += 1

    def absorb(self, lines: Iterable[dict[str, Any]], log: Any) -> None:
        """Write new lines to the task log and keep the last ones; a read that fails part way keeps those
        written (and its error goes on to the caller)."""
        for line in lines:
            self.write(line, log)
        self.read_worked()

    def read_worked(self) -> None:
        """A read went through: the next failure is news again."""
        self._failing = False

    def read_failed(self, error: Exception, log: Any) -> None:
        """A read of the log failed: say so once per run of failures; the wait goes on."""
        if not self._failing:
            log.warning("Could not read the job run's log (%s); the wait goes on, and so will the log", error)
        self._failing = True

    def tail_lines(self) -> list[str]:
        """The last lines, bounded for a message or an event."""
        return bounded_tail(self.tail)

    def with_tail(self, message: str) -> str:
        """``message`` followed by the last lines of the log, when some were read."""
        return with_log_tail(message, list(self.tail))


def with_log_tail(message: str, tail: list[str]) -> str:
    """A failure message with the run's last log lines under it (bounded: see :func:`bounded_tail`)."""
    lines = bounded_tail(tail)
    if not lines:
        return message
    return f"{message}\nLast {len(lines)} lines of its log:\n" + "\n".join(lines)


def has_log(resource: dict[str, Any]) -> bool:
    """Whether a followed run may have written lines: not while it is ``pending`` (no pod of it has started),
    so a wait reads no log then (on Saturn a pod can take minutes to be scheduled: two requests a poll saved)."""
    return resource.get("status") != "pending"


def replay_notice(deferred_at: float, late: float) -> str:
    """What a trigger that started ``late`` seconds after its deferral says before it reads the log again from
    where the operator left it: a triggerer that restarted shows, once more, the lines shown before."""
    since = datetime.fromtimestamp(deferred_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"This wait started {late:.0f}s after its deferral at {since}, so the triggerer may have restarted: the "
        "job run's lines written since then may appear here a second time."
    )
