"""Following a job run's log: which pods it has, and where each pod's log was read up to.

Saturn serves a pod's log in pages (``GET /api/jobs/{id}/logs?pod_name=&next_key=`` ->
``{"logs": [...], "next_key"}``); ``next_key`` is null on the last page written so far. A :class:`LogCursor`
remembers, for each pod, the key of the page it last read and how many lines of it were taken, so that the
next read asks for that page again, skips what was taken, and goes on: every line once, in order, whatever
the page size, however the log grows between reads. It is plain JSON, so a trigger can carry it.

The reading itself (one request a page) is in each client; the decisions are here, once.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.client.errors import SaturnBadResponseError

LOG_PAGE_SIZE = 1000  # Saturn's largest page
# The most pages one read takes from one pod; a log longer than that goes on at the next read.
MAX_LOG_PAGES_PER_READ = 20
LOG_FIELDS = ("timestamp", "content", "pod_name", "container_name")


@dataclass
class PodPosition:
    """Where a pod's log was read up to: the key of the page last read (``None``: the first), and how many
    of that page's lines were taken."""

    key: str | None = None
    taken: int = 0


@dataclass
class LogCursor:
    """Where the log of one run was read up to, pod by pod. ``to_json`` / ``from_json`` for triggers."""

    pods: dict[str, PodPosition] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"pods": {pod: [position.key, position.taken] for pod, position in self.pods.items()}}

    @classmethod
    def from_json(cls, value: Any) -> LogCursor:
        """A cursor from :meth:`to_json`'s form; anything else starts from the beginning."""
        cursor = cls()
        pods = value.get("pods") if isinstance(value, dict) else None
        if isinstance(pods, dict):
            for pod, position in pods.items():
                if isinstance(position, list) and len(position) == 2 and isinstance(position[1], int):
                    key = position[0] if isinstance(position[0], str) else None
                    cursor.pods[str(pod)] = PodPosition(key, max(position[1], 0))
        return cursor

    def position(self, pod: str) -> PodPosition:
        return self.pods.setdefault(pod, PodPosition())


def pods_of_run(history: dict[str, Any], run_name: str) -> list[str]:
    """The pods of one run, oldest first, from ``GET /api/jobs/{id}/history`` (``pods[].label_job_name``).

    Saturn lists pods newest first, in the order they were made; start times, to the second, cannot order
    the retries of one run, so the list's own order is kept, reversed.
    """
    pods = history.get("pods")
    if not isinstance(pods, list):
        raise SaturnBadResponseError("Saturn sent a job history without a list of pods")
    mine = [pod for pod in pods if isinstance(pod, dict) and pod.get("label_job_name") == run_name]
    names = [pod["pod_name"] for pod in mine if isinstance(pod.get("pod_name"), str) and pod["pod_name"]]
    return list(reversed(list(dict.fromkeys(names))))


def page_query(pod: str, position: PodPosition) -> dict[str, Any]:
    """The query of the next page of ``pod``'s log."""
    query: dict[str, Any] = {"pod_name": pod, "page_size": LOG_PAGE_SIZE}
    if position.key is not None:
        query["next_key"] = position.key
    return query


def take_page(position: PodPosition, page: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The new lines of a page read at ``position``, moving it on; and whether more pages follow now."""
    lines = page.get("logs")
    if not isinstance(lines, list):
        raise SaturnBadResponseError("Saturn sent a log page without a list of lines")
    fresh = [_line(item) for item in lines[position.taken :]]
    next_key = page.get("next_key")
    if isinstance(next_key, str) and next_key and next_key != position.key:
        position.key, position.taken = next_key, 0
        # A page that is not full holds the last lines written so far: asking for the next one now would
        # only find it empty (Saturn may still give its key, to go on from at the next read).
        return fresh, len(lines) >= LOG_PAGE_SIZE
    position.taken = max(len(lines), position.taken)
    return fresh, False


LogSteps = Generator[dict[str, Any], dict[str, Any], list[dict[str, Any]]]


def read_steps(history: dict[str, Any], run_name: str, cursor: LogCursor) -> LogSteps:
    """The reading of a run's new log lines, without I/O: yields the query of each page wanted, is sent the
    page, and returns the new lines, pod after pod; ``cursor`` is moved on. Each client drives it with its
    own requests, so the rules are written once."""
    lines: list[dict[str, Any]] = []
    for pod in pods_of_run(history, run_name):
        position = cursor.position(pod)
        for _ in range(MAX_LOG_PAGES_PER_READ):
            page = yield page_query(pod, position)
            fresh, more = take_page(position, page)
            lines.extend(fresh)
            if not more:
                break
    return lines


def _line(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"timestamp": None, "content": str(item), "pod_name": None, "container_name": None}
    line = {name: item.get(name) for name in LOG_FIELDS}
    line["content"] = "" if line["content"] is None else str(line["content"])
    return line


def format_line(line: dict[str, Any]) -> str:
    """A log line as the Airflow task log shows it: ``[pod] content``."""
    return f"[{line.get('pod_name') or '?'}] {line['content']}"


def tail(lines: Iterable[dict[str, Any]], count: int) -> list[str]:
    """The last ``count`` lines, formatted."""
    return [format_line(line) for line in list(lines)[-count:]]
