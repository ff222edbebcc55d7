"""A job run's log read through the async client, for the trigger: the same cursor and page rules as the
sync client's :meth:`~.jobs.JobOperations.job_logs` (see :mod:`~.logs`), one request a page."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.client.async_client import AsyncSaturnClient
from airflow_provider_saturn.client.logs import LogCursor, read_steps
from airflow_provider_saturn.client.paths import Paths


async def read_new_log_lines(
    client: AsyncSaturnClient, job_id: str, run_name: str, cursor: LogCursor
) -> list[dict[str, Any]]:
    """The lines a run's pods wrote since ``cursor``, pod after pod, each in order; ``cursor`` is moved on."""
    history = await client._request("GET", Paths.job(job_id, "history"), "job", job_id)
    logs_path = Paths.job(job_id, "logs")
    steps = read_steps(history, run_name, cursor)
    try:
        query = next(steps)
        while True:
            page = await client._request("GET", logs_path, "job", job_id, params=query)
            query = steps.send(page)
    except StopIteration as done:
        return done.value
