"""A proxy on 127.0.0.1 in front of the emulator, for what a well-behaved Saturn never answers: chosen answers
broken, pages of the active list rewritten, ``Date`` headers of another clock. ``saturn_default`` points at it."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from airflow_provider_saturn.emulator import SaturnEmulator
from tests.conftest import point_saturn_default_at
from tests.misbehaving_server import Answer, Seen, misbehaving_server

ACTIVE = "/api/active/resources"
Resources = list[dict[str, Any]]
Dates = float | str | None  # seconds off the real clock, a Date text, or no Date header at all


def _dated(headers: dict[str, str], date: Dates) -> dict[str, str]:
    if isinstance(date, str):
        return {**headers, "Date": date}
    if date is not None:
        return {**headers, "Date": email.utils.formatdate(time.time() + date, usegmt=True)}
    return headers


@contextmanager
def proxy_to(
    emulator: SaturnEmulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    breaks: Callable[[Seen], Answer | None] | None = None,
    active: Callable[[Resources], Resources] | None = None,
    dates: Dates | Callable[[Seen], Dates] = None,
) -> Iterator[list[Seen]]:
    """``saturn_default`` points at a proxy to the emulator; yields the requests it saw.

    :param breaks: answers instead of the emulator when it returns an answer.
    :param active: rewrites each page of the list of active resources.
    :param dates: the ``Date`` of every answer (see :data:`Dates`), or what it is for each request.
    """
    session = requests.Session()

    def respond(seen: Seen) -> Answer:
        broken = breaks(seen) if breaks is not None else None
        if broken is not None:
            return broken
        date = dates(seen) if callable(dates) else dates
        headers = {name: value for name, value in seen.headers.items() if name in ("authorization", "content-type")}
        answer = session.request(seen.method, emulator.url + seen.path, headers=headers, data=seen.body, timeout=60)
        kept = _dated({"Content-Type": answer.headers.get("Content-Type", "application/json")}, date)
        if active is not None and seen.method == "GET" and seen.path.startswith(ACTIVE) and answer.ok:
            page = answer.json()
            page["resources"] = active(page["resources"])
            return Answer(headers=kept, body=json.dumps(page).encode())
        return Answer(status=answer.status_code, reason=answer.reason or "OK", headers=kept, body=answer.content)

    with misbehaving_server(respond) as server:
        point_saturn_default_at(server.url, monkeypatch, max_attempts=2)
        try:
            yield server.requests
        finally:
            session.close()
