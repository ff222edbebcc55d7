"""Log lines as pods write them, read a page at a time with stable, opaque keys.

A key is a position in one stream of lines (one pod's, or every pod of a job in time order): the ``next_key``
of a page is the position right after its last line. Lines only ever appear after the lines already
written (a line is written at a moment, and read only once that moment has passed), so a position never
moves: asking again later with the same key returns just the lines written since.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from airflow_provider_saturn.emulator.lifecycle import EmulatorError


@dataclass(frozen=True)
class Segment:
    """Lines one pod wrote at one moment.

    :param order: run number, attempt and step: breaks ties between lines written at the same moment.
    """

    at: float
    order: tuple[int, int, int]
    pod_name: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class LogLine:
    at: float
    pod_name: str
    content: str


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    prev_key: str | None
    next_key: str | None


def _encode(scope: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{position}".encode()).decode().rstrip("=")


def _decode(scope: str, key: str, total: int) -> int:
    """The position ``key`` stands for in the stream ``scope`` of ``total`` lines; a 422 if it is not one."""
    try:
        text = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
        key_scope, _, position = text.rpartition(":")
        value = int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value, key_scope = -1, ""
    if key_scope != scope or not 1 <= value <= total:
        raise EmulatorError(422, f"next_key: {key!r} is not a key of these logs")
    return value


def _ordered(segments: Iterable[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda segment: (segment.at, segment.order))


def read_page(segments: Iterable[Segment], scope: str, next_key: str | None, page_size: int) -> LogPage:
    """Up to ``page_size`` lines after ``next_key`` (from the first line without one).

    ``next_key`` is the position after the page's last line, or ``None`` when the page is empty (nothing is
    written after the key yet); ``prev_key`` is the key that returns this page again.
    """
    ordered = _ordered(segments)
    total = sum(len(segment.lines) for segment in ordered)
    start = _decode(scope, next_key, total) if next_key else 0
    lines: list[LogLine] = []
    skip = start
    for segment in ordered:
        if len(lines) >= page_size:
            break
        if skip >= len(segment.lines):
            skip -= len(segment.lines)
            continue
        taken = segment.lines[skip : skip + page_size - len(lines)]
        lines.extend(LogLine(segment.at, segment.pod_name, content) for content in taken)
        skip = 0
    end = start + len(lines)
    return LogPage(
        lines=lines,
        prev_key=_encode(scope, start) if start else None,
        next_key=_encode(scope, end) if lines else None,
    )


def tail(segments: Iterable[Segment], count: int) -> list[str]:
    """The last ``count`` lines, in order."""
    lines: list[str] = []
    for segment in reversed(_ordered(segments)):
        lines[:0] = segment.lines[-(count - len(lines)) :]
        if len(lines) >= count:
            break
    return lines
