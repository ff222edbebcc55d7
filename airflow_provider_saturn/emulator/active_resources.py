"""``GET /api/active/resources``: every active resource, in creation order, a page at a time.

Active: a workspace, Dask cluster or deployment ``pending`` or ``running``; a job with a run ``pending`` or
``running`` (its status says so). Each is rendered as its own GET renders it. The walk goes through the
active index (``active_index.py``) from the page key on, so a page costs the entries it passes, whatever
the number of resources; entries found inactive on the way leave the index.

Page keys are opaque: ``next_key`` (the last resource shown, when more follow) asks for the resources after
it, ``prev_key`` (the first shown, when some come before) for those before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_saturn.emulator.active_index import KINDS
from airflow_provider_saturn.emulator.deployments import DeploymentRecord
from airflow_provider_saturn.emulator.jobs import JobRecord
from airflow_provider_saturn.emulator.lifecycle import ACTIVE, EmulatorError
from airflow_provider_saturn.emulator.owners import Owner
from airflow_provider_saturn.emulator.render import dask_cluster_json, workspace_json
from airflow_provider_saturn.emulator.render_workloads import deployment_json, job_json
from airflow_provider_saturn.emulator.state import DaskClusterRecord, SaturnState, WorkspaceRecord

Record = WorkspaceRecord | DaskClusterRecord | DeploymentRecord | JobRecord
Match = tuple[int, str, Record]
_KEY = re.compile(r"^[0-9a-f]{1,16}$")


def _key(seq: int) -> str:
    return f"{seq:x}"


def _seq(field: str, key: str) -> int:
    if not _KEY.match(key):
        raise EmulatorError(422, f"{field}: {key!r} is not a key of this list")
    return int(key, 16)


def parse_resource_type(text: str | None) -> tuple[str, ...]:
    """The kinds a ``resource_type`` filter keeps (every kind when unset)."""
    if not text:
        return KINDS
    if text not in KINDS:
        raise EmulatorError(422, f"resource_type: one of {list(KINDS)}")
    return (text,)


def _active_record(state: SaturnState, kind: str, resource_id: str, now: float) -> Record | None:
    """The resource, its status settled, if it exists and is active."""
    record: Record | None
    if kind == "job":
        job = state.jobs.records.get(resource_id)
        return job if job is not None and job.is_active(now) else None
    if kind == "workspace":
        record = state.workspaces.get(resource_id)
    elif kind == "dask":
        record = state.dask_clusters.get(resource_id)
    else:
        record = state.deployments.records.get(resource_id)
    if record is None:
        return None
    record.life.settle(now, state.transition_seconds)
    return record if record.life.status in ACTIVE else None


def _render(state: SaturnState, kind: str, record: Any) -> dict[str, Any]:
    if kind == "workspace":
        return workspace_json(record, state)
    if kind == "dask":
        return dask_cluster_json(record, state)
    if kind == "deployment":
        return deployment_json(record)
    return job_json(record, state)


class _Walk:
    """Finds active resources of ``kinds`` whose owner is ``shown``, forgetting inactive entries it passes."""

    def __init__(self, state: SaturnState, kinds: Iterable[str], shown: Callable[[Owner], bool]) -> None:
        self.state = state
        self.kinds = tuple(kinds)
        self.now = state.now()
        self._shown = shown
        self._verdicts: dict[int, bool] = {}  # id(owner) -> shown: owners are few and live on

    def take(self, limit: int, *, after: int | None = None, before: int | None = None) -> list[Match]:
        """Up to ``limit`` matches after ``after`` (ascending) or before ``before`` (descending)."""
        matches: list[Match] = []
        stale: list[tuple[str, int]] = []
        for seq, kind, resource_id in self.state.active.walk(self.kinds, after=after, before=before):
            record = _active_record(self.state, kind, resource_id, self.now)
            if record is None:
                stale.append((kind, seq))
                continue
            verdict = self._verdicts.get(id(record.owner))
            if verdict is None:
                verdict = self._verdicts[id(record.owner)] = self._shown(record.owner)
            if verdict:
                matches.append((seq, kind, record))
                if len(matches) >= limit:
                    break
        for kind, seq in stale:
            self.state.active.discard(kind, seq)
        return matches


def active_page(
    state: SaturnState,
    kinds: Iterable[str],
    shown: Callable[[Owner], bool],
    size: int,
    next_key: str | None = None,
    prev_key: str | None = None,
) -> dict[str, Any]:
    """An ``ActiveResourceList`` page of at most ``size`` resources, after ``next_key`` or before ``prev_key``."""
    if next_key and prev_key:
        raise EmulatorError(422, "prev_key: pass next_key or prev_key, not both")
    walk = _Walk(state, kinds, shown)
    if prev_key:
        found = walk.take(size + 1, before=_seq("prev_key", prev_key))
        shown_page = list(reversed(found[:size]))
        earlier = len(found) > size
        later = bool(shown_page) and bool(walk.take(1, after=shown_page[-1][0]))
    else:
        anchor = _seq("next_key", next_key) if next_key else None
        found = walk.take(size + 1, after=anchor)
        shown_page = found[:size]
        later = len(found) > size
        earlier = anchor is not None and bool(shown_page) and bool(walk.take(1, before=shown_page[0][0]))
    return {
        "resources": [_render(state, kind, record) for _, kind, record in shown_page],
        "prev_key": _key(shown_page[0][0]) if earlier else None,
        "next_key": _key(shown_page[-1][0]) if later else None,
    }
