"""Walking Saturn's paginated lists (``{"<items>": [...], "next_key": ...}``), bounded, for both clients.

A server (or a proxy) that repeats a ``next_key`` would otherwise keep a listing going forever. A walk stops
with :class:`SaturnPagingError` on a repeated key, past ``max_pages`` pages or ``max_seconds`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_saturn.client.errors import SaturnBadResponseError, SaturnPagingError

PAGE_SIZE = 100  # Saturn's default; its maximum is 1000


@dataclass(frozen=True)
class PageLimits:
    """How far one listing may go.

    :param max_pages: the most pages read (at ``PAGE_SIZE`` items each).
    :param max_seconds: the longest a listing may take, retries included.
    """

    max_pages: int = 1000
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.max_pages < 1 or self.max_seconds <= 0:
            raise ValueError("PageLimits.max_pages and max_seconds must be positive")


class PageWalk:
    """One listing in progress: the query of the next page (``None`` once done), and the checks between pages.

    :param path: the list's API path, for error messages.
    :param field: the key of the items in each page, e.g. ``"workspaces"``.
    :param params: query parameters of every page (filters).
    """

    def __init__(self, path: str, field: str, params: dict[str, Any] | None, limits: PageLimits) -> None:
        self.path = "/" + path.lstrip("/")
        self.field = field
        self.limits = limits
        self.query: dict[str, Any] | None = {"page_size": PAGE_SIZE, **(params or {})}
        self._seen_keys: set[str] = set()
        self._pages = 0
        self._started = time.monotonic()

    def take(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        """The items of ``page``; moves :attr:`query` to the next page, or to ``None`` after the last one.

        Nothing moves when the page is refused, so a retried page is taken as if it were the first try.
        """
        items = page.get(self.field)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise self._bad(f"its {self.field!r} is not a list of objects")
        self.query = self._next_query(page.get("next_key"))
        self._pages += 1
        return items

    def _next_query(self, next_key: Any) -> dict[str, Any] | None:
        if next_key is None or next_key == "":
            return None
        if not isinstance(next_key, str | int) or isinstance(next_key, bool):
            raise self._bad(f"its next_key is a {type(next_key).__name__}, not a string")
        key = str(next_key)
        if not _sendable(key):
            raise self._bad("its next_key cannot be sent back (it is not valid Unicode text)")
        if key in self._seen_keys:
            raise self._endless(f"page key {key[:64]!r} came back a second time")
        if self._pages + 1 >= self.limits.max_pages:
            raise self._endless(f"it went past {self.limits.max_pages} pages")
        elapsed = time.monotonic() - self._started
        if elapsed > self.limits.max_seconds:
            raise self._endless(f"it took longer than {self.limits.max_seconds:g}s ({elapsed:.0f}s so far)")
        self._seen_keys.add(key)
        return {**(self.query or {}), "next_key": key}

    def _bad(self, problem: str) -> SaturnBadResponseError:
        """A page that is not what Saturn sends (transient: the page is asked for again)."""
        return SaturnBadResponseError(f"Saturn sent a page that {problem}", method="GET", path=self.path)

    def _endless(self, problem: str) -> SaturnPagingError:
        return SaturnPagingError(
            f"Stopped reading the list at page {self._pages + 1}: {problem}. "
            "Saturn (or a proxy in front of it) is not ending the list.",
            method="GET",
            path=self.path,
        )


def _sendable(text: str) -> bool:
    """Whether ``text`` can go into a query string (UTF-8 encodes it: a lone surrogate does not)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
