"""What the API's route modules share: handler types, paging of lists and reading of query parameters.

A handler runs under the state lock: it takes the request and its parsed JSON body ({} when empty) and
awaits nothing. ``Api`` (built in ``app.py``) wraps one into an endpoint that checks the token and reads the
body before taking the lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner

IDENTITY_SCOPE_KEY = "saturn.identity"
"""Where an endpoint leaves the token's identity (an ``Owner``) in the request's scope."""
Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, dict[str, Any]], Any]
"""Runs under the state lock: takes the request and its parsed JSON body ({} when empty), awaits nothing."""


class Api(Protocol):
    """Makes an endpoint of a handler: token check, body read, then the handler under the state lock."""

    def __call__(self, handler: Handler, status_code: int = 200, *, body_required: bool = False) -> Endpoint: ...


def identity(request: Request) -> Owner:
    """Who the request's token acts as (the default owner if no token was checked)."""
    found = request.scope.get(IDENTITY_SCOPE_KEY)
    return found if isinstance(found, Owner) else DEFAULT_OWNER


def page_size(query: Mapping[str, str], default: int = 100, maximum: int = 1000) -> int:
    """The ``page_size`` query parameter, from 1 to ``maximum``; a 422 otherwise."""
    try:
        size = int(query.get("page_size", default))
    except ValueError:
        raise EmulatorError(422, "page_size: must be an integer") from None
    if not 1 <= size <= maximum:
        raise EmulatorError(422, f"page_size: must be between 1 and {maximum}")
    return size


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (true, 1 or yes), false when absent."""
    return query.get(name, "false").lower() in ("true", "1", "yes")


def page(
    query: Mapping[str, str],
    items: list[Any],
    field_name: str,
    render: Callable[[Any], dict[str, Any]],
    key: Callable[[Any], str] = lambda item: item.id,
) -> dict[str, Any]:
    """One page of a list: ``next_key`` / ``prev_key`` are the keys (ids by default) of the items around it."""
    size = page_size(query)
    if flag(query, "descending"):
        items = list(reversed(items))
    keys = [key(item) for item in items]
    start = 0
    if query.get("next_key"):
        if query["next_key"] not in keys:
            raise EmulatorError(422, "next_key: unknown key")
        start = keys.index(query["next_key"]) + 1
    shown = items[start : start + size]
    more = start + size < len(items)
    return {
        field_name: [render(item) for item in shown],
        "prev_key": keys[start - 1] if start > 0 else None,
        "next_key": keys[start + len(shown) - 1] if more and shown else None,
    }
