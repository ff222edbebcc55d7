"""A job's ``command`` as the emulator runs it: a tiny shell-like script, so that tests choose each outcome.

The command is split on ``;`` and ``&&`` (no quoting) into steps, run in order:

- ``echo WORDS`` writes the line ``WORDS`` (one pair of surrounding quotes is dropped);
- ``seq N`` writes the lines ``1`` .. ``N`` (0 <= N <= 100000);
- ``sleep S`` lets ``S`` seconds pass (0 <= S <= 2592000, 30 days, a float);
- ``exit N`` ends the pod: 0 completes it, anything else (up to 255) fails it with that exit code;
- any other step writes itself as one line and takes no time.

A malformed ``seq``, ``sleep`` or ``exit`` is refused when the job is created or updated.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

MAX_SEQ = 100_000
MAX_SLEEP = 30 * 86400.0  # 30 days: long enough for seeded runs that started long ago
MAX_LINES = 1_000_000
_STEP_SEPARATOR = re.compile(r";|&&")


class ScriptError(ValueError):
    """A command the emulator cannot run; the message says which step and why."""


@dataclass(frozen=True)
class Script:
    """What one attempt of a job run does.

    :param chunks: ``(offset, lines)`` in order: the lines written ``offset`` seconds after the pod turns running.
    :param sleep_total: seconds the script sleeps before it ends, or ``None`` if no ``sleep`` step runs.
    :param exit_code: 0 for success, else the code of the ``exit`` step that failed the pod.
    """

    chunks: tuple[tuple[float, tuple[str, ...]], ...]
    sleep_total: float | None
    exit_code: int

    @property
    def line_count(self) -> int:
        return sum(len(lines) for _, lines in self.chunks)


def _unquote(words: str) -> str:
    if len(words) >= 2 and words[0] == words[-1] and words[0] in "'\"":
        return words[1:-1]
    return words


def _number(step: str, argument: str, kind: type[int] | type[float], low: float, high: float) -> float:
    try:
        value = kind(argument)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # also refuses NaN
        raise ScriptError(f"{step!r}: takes a number from {low:g} to {high:g}")
    return value


@functools.lru_cache(maxsize=16)
def parse(command: str) -> Script:
    """The script of ``command`` (cached: every run of a job shares it); raises ``ScriptError``."""
    chunks: list[tuple[float, list[str]]] = []
    clock, slept, exit_code, total_lines = 0.0, False, 0, 0

    def write(lines: list[str]) -> None:
        nonlocal total_lines
        total_lines += len(lines)
        if total_lines > MAX_LINES:
            raise ScriptError(f"writes more than {MAX_LINES} lines")
        if chunks and chunks[-1][0] == clock:
            chunks[-1][1].extend(lines)
        elif lines:
            chunks.append((clock, lines))

    for raw in _STEP_SEPARATOR.split(command):
        step = raw.strip()
        if not step:
            continue
        verb, _, argument = step.partition(" ")
        argument = argument.strip()
        if verb == "echo":
            write([_unquote(argument)])
        elif verb == "seq":
            count = int(_number(step, argument, int, 0, MAX_SEQ))
            write([str(number) for number in range(1, count + 1)])
        elif verb == "sleep":
            clock += _number(step, argument, float, 0.0, MAX_SLEEP)
            slept = True
        elif verb == "exit":
            exit_code = int(_number(step, argument or "0", int, 0, 255))
            break
        else:
            write([step])
    frozen = tuple((offset, tuple(lines)) for offset, lines in chunks)
    return Script(chunks=frozen, sleep_total=clock if slept else None, exit_code=exit_code)
