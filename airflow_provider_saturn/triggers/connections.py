"""The Saturn connection of a triggerer's waits, read once for the waits that start together.

Every trigger needs its connection's settings, and Airflow's lookup (secrets backends, a thread hop) costs
about 0.3 ms of CPU and some memory while in flight. When a triggerer starts thousands of waits at once (a
restart, a fan-out DAG), one lookup per connection id and event loop serves them all: the waits that ask
within ``CONNECTION_CACHE_SECONDS`` of one another share its answer. A failed lookup is not kept: the next
wait asks again. A changed token is seen by waits that start after that window.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

CONNECTION_CACHE_SECONDS = 5.0

_lookups: dict[asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Task[Any]]]] = {}
_guard = threading.Lock()  # triggerers run one loop, but tests and other runners may run several


async def shared_connection_setup(conn_id: str) -> tuple[Any, Any]:
    """``(settings, credentials)`` of ``conn_id`` (see ``hooks.saturn.async_connection_settings``), looked up
    once for the waits of this event loop that ask within ``CONNECTION_CACHE_SECONDS``."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    with _guard:
        for other in [other for other in _lookups if other.is_closed()]:
            del _lookups[other]
        table = _lookups.setdefault(loop, {})
        entry = table.get(conn_id)
        if entry is None or entry[0] < now or _failed(entry[1]):
            entry = table[conn_id] = (now + CONNECTION_CACHE_SECONDS, loop.create_task(_look_up(conn_id)))
    return await asyncio.shield(entry[1])


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


async def _look_up(conn_id: str) -> tuple[Any, Any]:
    from airflow_provider_saturn.client.credentials import resolve_credentials
    from airflow_provider_saturn.hooks.saturn import async_connection_settings

    settings = await async_connection_settings(conn_id)
    return settings, resolve_credentials(settings["url"], settings["api_token"])
