"""A job run's log read through the async client, for the trigger: the same cursor, page and request rules as
the sync client's :meth:`~.jobs.JobOperations.job_logs` (see :mod:`~.logs`), one request a page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_saturn.client.async_client import AsyncSaturnClient
from airflow_provider_saturn.client.logs import LogCursor, PageWanted, drive, read_steps
from airflow_provider_saturn.client.paths import Paths


async def get_job(client: AsyncSaturnClient, job_id: str) -> dict[str, Any]:
    """``GET /api/jobs/{id}``: the job as Saturn sends it."""
    return await client._request("GET", Paths.job(job_id), "job", job_id)


async def read_new_log_lines(
    client: AsyncSaturnClient, job_id: str, run_name: str, cursor: LogCursor
) -> AsyncIterator[dict[str, Any]]:
    """The lines a run's pods wrote since ``cursor``, pod after pod, each in order, as each page arrives;
    ``cursor`` moves with each line taken, so a read that fails part way keeps the lines it gave."""
    history = await client._request("GET", Paths.job(job_id, "history"), "job", job_id)
    logs_path = Paths.job(job_id, "logs")
    steps = read_steps(history, run_name, cursor)
    page: dict[str, Any] | None = None
    while (step := drive(steps, page)) is not None:
        if isinstance(step, PageWanted):
            page = await client._request("GET", logs_path, "job", job_id, params=step.query)
        else:
            page = None
            yield step
