"""Following a job run's log: which pods it has, and where each pod's log was read up to.

Saturn serves a pod's log in pages (``GET /api/jobs/{id}/logs?pod_name=&next_key=`` ->
``{"logs": [...], "next_key"}``); ``next_key`` is null on the last page written so far. A :class:`LogCursor`
remembers, for each pod, the key of the page it last read and how many lines of it were delivered, so that
the next read asks for that page again, skips what was delivered, and goes on: every line once, in order,
whatever the page size, however the log grows between reads. It is plain JSON, so a trigger can carry it.

The rules, written once here and driven by each client with its own requests (:func:`read_steps`):

- the cursor moves one line at a time, as each line is handed to the reader: a page that fails, or a reader
  that stops, leaves it right after the last line delivered;
- a key already passed (within a read, or among the last ``REMEMBERED_KEYS`` of a pod) is never followed:
  a log whose keys cycle gives each page once;
- Saturn's history cannot be asked for one run's pods (its only filter is ``cluster``): it is read once per
  read and filtered here by ``label_job_name``; a read sends at most ``MAX_LOG_REQUESTS_PER_READ`` requests,
  history included, and the next read starts with the pod after the last one read, so every pod gets its
  turn; a pod that ended and whose log a later read found finished is not read again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.client.errors import SaturnBadResponseError

LOG_PAGE_SIZE = 1000  # Saturn's largest page
# The most requests one read sends (the history and the pages); a longer log goes on at the next read.
MAX_LOG_REQUESTS_PER_READ = 20
# How many of the keys a pod's log went past its cursor remembers, to tell a cycle across reads.
REMEMBERED_KEYS = 16
# A page key longer than this is not followed (it would go into every URL of the pod's next reads).
MAX_KEY_CHARS = 2048
# Pod statuses (``PodHistory.status``, lower case) after which a pod writes no more lines.
ENDED_POD_STATUSES = frozenset({"completed", "succeeded", "error", "failed", "stopped"})
LOG_FIELDS = ("timestamp", "content", "pod_name", "container_name")


def key_digest(key: str) -> str:
    """A short stand-in for a page key, to remember it by."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]


@dataclass
class PodPosition:
    """Where a pod's log was read up to: the key of the page last read (``None``: the first), how many of that
    page's lines were delivered, the digests of the last keys it went past, and whether it is read out
    (``done``: the pod had ended, and a read after that found nothing new)."""

    key: str | None = None
    taken: int = 0
    passed: list[str] = field(default_factory=list)
    done: bool = False

    def knows(self, key: str) -> bool:
        """Whether ``key`` is the page read now or one this pod's log already went past."""
        return key == self.key or key_digest(key) in self.passed

    def move_to(self, key: str) -> None:
        """On to the page at ``key``, remembering the one left."""
        if self.key is not None:
            self.passed = [*self.passed, key_digest(self.key)][-REMEMBERED_KEYS:]
        self.key, self.taken = key, 0


@dataclass
class LogCursor:
    """Where the log of one run was read up to, pod by pod, and which pod the next read starts with
    (``next_pod``: ``None`` when the last read got to every pod). ``to_json`` / ``from_json`` for triggers."""

    pods: dict[str, PodPosition] = field(default_factory=dict)
    next_pod: str | None = None

    @property
    def behind(self) -> bool:
        """Whether the last read left lines for the next one (it ran out of requests)."""
        return self.next_pod is not None

    def to_json(self) -> dict[str, Any]:
        pods = {pod: [spot.key, spot.taken, list(spot.passed), spot.done] for pod, spot in self.pods.items()}
        return {"pods": pods, "next_pod": self.next_pod}

    @classmethod
    def from_json(cls, value: Any) -> LogCursor:
        """A cursor from :meth:`to_json`'s form (or its older ``[key, taken]`` one); anything else starts from
        the beginning."""
        cursor = cls()
        pods = value.get("pods") if isinstance(value, dict) else None
        if isinstance(pods, dict):
            for pod, position in pods.items():
                if isinstance(position, list) and len(position) in (2, 4) and isinstance(position[1], int):
                    key = position[0] if isinstance(position[0], str) else None
                    spot = PodPosition(key, max(position[1], 0))
                    if len(position) == 4:
                        passed = position[2] if isinstance(position[2], list) else []
                        spot.passed = [item for item in passed if isinstance(item, str)][-REMEMBERED_KEYS:]
                        spot.done = position[3] is True
                    cursor.pods[str(pod)] = spot
        next_pod = value.get("next_pod") if isinstance(value, dict) else None
        cursor.next_pod = next_pod if isinstance(next_pod, str) else None
        return cursor

    def position(self, pod: str) -> PodPosition:
        return self.pods.setdefault(pod, PodPosition())


@dataclass(frozen=True)
class PodOfRun:
    """A pod of the run followed, as the job's history shows it."""

    name: str
    ended: bool


def pods_of_run(history: dict[str, Any], run_name: str) -> list[PodOfRun]:
    """The pods of one run, oldest first, from ``GET /api/jobs/{id}/history`` (``pods[].label_job_name``).

    Saturn lists pods newest first, in the order they were made; start times, to the second, cannot order
    the retries of one run, so the list's own order is kept, reversed.
    """
    pods = history.get("pods")
    if not isinstance(pods, list):
        raise SaturnBadResponseError("Saturn sent a job history without a list of pods")
    found: dict[str, PodOfRun] = {}
    for pod in reversed(pods):
        if not isinstance(pod, dict) or pod.get("label_job_name") != run_name:
            continue
        name = pod.get("pod_name")
        if isinstance(name, str) and name and name not in found:
            found[name] = PodOfRun(name, str(pod.get("status") or "").lower() in ENDED_POD_STATUSES)
    return list(found.values())


def page_query(pod: str, position: PodPosition) -> dict[str, Any]:
    """The query of the next page of ``pod``'s log."""
    query: dict[str, Any] = {"pod_name": pod, "page_size": LOG_PAGE_SIZE}
    if position.key is not None:
        query["next_key"] = position.key
    return query


@dataclass(frozen=True)
class PageWanted:
    """A step of :func:`read_steps`: send this query to the logs endpoint, and send the page back."""

    query: dict[str, Any]


LogSteps = Generator[PageWanted | dict[str, Any], dict[str, Any] | None, None]


def read_steps(history: dict[str, Any], run_name: str, cursor: LogCursor) -> LogSteps:
    """The reading of a run's new log lines, without I/O: yields a :class:`PageWanted` for each page wanted (and
    is sent the page), or a line (and is sent ``None`` to go on); ``cursor`` moves past each line as it is
    handed over. Lines come pod after pod, each pod's in order. Each client drives it with its own requests
    (:func:`drive` names the steps), so the rules are written once."""
    pods = _turn_order(pods_of_run(history, run_name), cursor.next_pod)
    budget = MAX_LOG_REQUESTS_PER_READ - 1  # the history was one
    for index, pod in enumerate(pods):
        position = cursor.position(pod.name)
        if position.done:
            continue
        if budget <= 0:
            cursor.next_pod = pod.name
            return
        # Should the read end inside this pod (out of requests, a failed page, a reader that stops), the next
        # read starts with the pod after it: a pod whose pages keep failing holds up no other.
        cursor.next_pod = pods[(index + 1) % len(pods)].name
        budget, more = yield from _read_pod(pod, position, budget)
        if more:
            return
    cursor.next_pod = None


def _read_pod(pod: PodOfRun, position: PodPosition, budget: int) -> Generator[Any, Any, tuple[int, bool]]:
    """One pod's new lines, within ``budget`` requests; the requests left, and whether its pages go on."""
    seen: set[str] = set()
    fresh = 0
    while budget > 0:
        budget -= 1
        page = yield PageWanted(page_query(pod.name, position))
        lines, next_key = _checked_page(page)
        for item in lines[position.taken :]:
            position.taken += 1  # handed to the reader: a read that stops after it goes on after it
            fresh += 1
            yield _line(item)
        if position.key is not None:
            seen.add(position.key)
        if next_key is None or next_key in seen or position.knows(next_key):
            break  # the last page written so far (or a key already passed: Saturn's keys cycle)
        position.move_to(next_key)
        if len(lines) < LOG_PAGE_SIZE:
            # A page that is not full holds the last lines written so far: asking for the next one now would
            # only find it empty (Saturn may still give its key, to go on from at the next read).
            return budget, False
    else:
        return budget, True
    if pod.ended and fresh == 0:
        position.done = True
    return budget, False


def _checked_page(page: Any) -> tuple[list[Any], str | None]:
    """A page's lines and its usable next key (``None``: none to follow)."""
    lines = page.get("logs") if isinstance(page, dict) else None
    if not isinstance(lines, list):
        raise SaturnBadResponseError("Saturn sent a log page without a list of lines")
    next_key = page.get("next_key")
    if not isinstance(next_key, str) or not next_key:
        return lines, None
    if len(next_key) > MAX_KEY_CHARS:
        raise SaturnBadResponseError(f"Saturn sent a log page key of {len(next_key)} characters")
    return lines, next_key


def _turn_order(pods: list[PodOfRun], first: str | None) -> list[PodOfRun]:
    """The pods in the order of this read: from ``first`` (where the last read ran out) round to the one before."""
    names = [pod.name for pod in pods]
    start = names.index(first) if first in names else 0
    return pods[start:] + pods[:start]


def drive(steps: LogSteps, answer: dict[str, Any] | None) -> PageWanted | dict[str, Any] | None:
    """The next step of ``steps`` after sending ``answer`` (the page asked for, or ``None``); ``None`` at the end."""
    try:
        return steps.send(answer)
    except StopIteration:
        return None


def _line(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"timestamp": None, "content": str(item), "pod_name": None, "container_name": None}
    line = {name: item.get(name) for name in LOG_FIELDS}
    line["content"] = "" if line["content"] is None else str(line["content"])
    return line


def format_line(line: dict[str, Any]) -> str:
    """A log line as the Airflow task log shows it: ``[pod] content``."""
    return f"[{line.get('pod_name') or '?'}] {line['content']}"
