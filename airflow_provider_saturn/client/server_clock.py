"""Saturn's clock, as the ``Date`` header of one of its answers tells it, against ours around the exchange.

An HTTP ``Date`` (RFC 9110) names the second the server made its answer, truncated, and servers that cache it
(uvicorn does, once a second) may send one up to a second old: Saturn's clock then read between ``date`` and
``date + DATE_SLACK``. Ours read between the moment the request went out and the moment the answer's head came
back. The offset (Saturn's clock minus ours) is the middle of what both allow; ``uncertainty`` its half-width.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DATE_SLACK = timedelta(seconds=2)
"""How much later than its ``Date`` an answer may have been made: the header's second, and a cached second."""
MAX_DATE_LENGTH = 64
"""A ``Date`` header longer than this is no HTTP date (``Sun, 06 Nov 1994 08:49:37 GMT`` is 29)."""


@dataclass(frozen=True)
class ClockReading:
    """How far Saturn's clock is from ours (``offset``: Saturn's minus ours), give or take ``uncertainty``."""

    offset: timedelta
    uncertainty: timedelta


def clock_reading(date_header: str | None, sent: datetime, received: datetime) -> ClockReading | None:
    """Saturn's clock by an answer's ``Date`` header, our clock read at ``sent`` and ``received`` (aware
    datetimes); ``None`` when the header is absent or no HTTP date with a zone."""
    if not date_header or len(date_header) > MAX_DATE_LENGTH:
        return None
    try:
        stamped = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamped.tzinfo is None:  # "-0000": no zone said, as RFC 5322 has it
        return None
    stamped = stamped.astimezone(UTC)
    earliest = stamped - received  # Saturn made it at `stamped` at the earliest; we got it at `received`
    latest = stamped + DATE_SLACK - sent
    return ClockReading(offset=(earliest + latest) / 2, uncertainty=(latest - earliest) / 2)
