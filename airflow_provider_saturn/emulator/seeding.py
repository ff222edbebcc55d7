"""Making many resources at once (``POST /_emulator/seed``), for load tests and scans at scale.

A body is one group, or ``{"groups": [group, ...]}`` to mix kinds in one request. A group::

    {"kind": "workspace" | "dask_cluster" | "deployment" | "job",   # default "workspace"
     "count": N,                       # default 1; at most MAX_SEEDED in one request, groups together
     "prefix": "seeded",               # names are <prefix>-000000, -000001, ... (continuing on a second seed)
     "start": true,                    # default false, or true when started_ago_seconds is given
     "started_ago_seconds": 7200,      # the start is that long ago (at most MAX_STARTED_AGO)
     "owner": "acme/bob" | {"name": "acme/data", "identity_type": "group", "org_admin": false},
     "tags": {"team": "data"},
     # by kind: "instance_size" (workspace, deployment, job), "scale" and "command" (deployment, job),
     # "worker_size", "scheduler_size", "n_workers", "nthreads", "start_workspaces" (dask_cluster)}

A Dask cluster is seeded with a new workspace of its own (same owner and tags), stopped unless
``start_workspaces``. A seeded job's run runs a day past now unless ``command`` says otherwise. The answer
is ``{"ids": [every id, in order], "groups": [{"kind", "ids"} (+ "workspace_ids" for Dask), ...]}``.
Everything is checked (names included) before anything is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, OwnerSpec, parse_owner_spec
from airflow_provider_saturn.emulator.script import ScriptError, parse
from airflow_provider_saturn.emulator.state import MAX_BACKDATE, SaturnState
from airflow_provider_saturn.emulator.validation import parse_tags
from airflow_provider_saturn.emulator.workload_validation import MAX_SCALE

SEED_KINDS = ("workspace", "dask_cluster", "deployment", "job")
MAX_SEEDED = 20_000
MAX_STARTED_AGO = MAX_BACKDATE
MAX_SEEDED_WORKERS = 100
RUN_AFTER_NOW = 86400.0
DEFAULT_PREFIX = {
    "workspace": "seeded",
    "dask_cluster": "seeded-dask",
    "deployment": "seeded-deployment",
    "job": "seeded-job",
}
NAME_SPACE = {"workspace": "workspace", "dask_cluster": "workspace", "deployment": "deployment", "job": "job"}
"""Which names a kind's seeded resources take (a Dask cluster's are its workspace's)."""
COMMON_FIELDS = frozenset({"kind", "count", "prefix", "start", "started_ago_seconds", "owner", "tags"})
KIND_FIELDS = {
    "workspace": frozenset({"instance_size"}),
    "dask_cluster": frozenset({"worker_size", "scheduler_size", "n_workers", "nthreads", "start_workspaces"}),
    "deployment": frozenset({"instance_size", "scale", "command"}),
    "job": frozenset({"instance_size", "scale", "command"}),
}


@dataclass(frozen=True)
class SeedGroup:
    """One group of a seed request, checked."""

    kind: str
    count: int
    prefix: str
    start: bool
    started_ago: float | None
    owner: OwnerSpec | None
    tags: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)
    start_workspaces: bool = False


def _invalid(field: str, problem: str) -> EmulatorError:
    return EmulatorError(422, f"{field}: {problem}")


def _integer(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"must be an integer from {low} to {high}")
    return value


def _seconds(value: Any, most: float) -> bool:
    """Whether ``value`` is a number of seconds from 0 to ``most``."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= most


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, "must be a boolean")
    return value


def _size(field: str, value: Any) -> str:
    if value not in catalog.SIZES:
        raise _invalid(field, f"must be one of {list(catalog.SIZES)}")
    return str(value)


def _command(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "a non-empty string")
    try:
        parse(value)
    except ScriptError as error:
        raise _invalid(field, str(error)) from None
    return value


def _kind_settings(where: str, kind: str, group: Mapping[str, Any]) -> dict[str, Any]:
    checks: dict[str, Callable[[str, Any], Any]] = {
        "instance_size": _size,
        "worker_size": _size,
        "scheduler_size": _size,
        "scale": lambda name, value: _integer(name, value, 1, MAX_SCALE),
        "n_workers": lambda name, value: _integer(name, value, 0, MAX_SEEDED_WORKERS),
        "nthreads": lambda name, value: _integer(name, value, 1, 64),
        "command": _command,
    }
    return {
        name: checks[name](f"{where}{name}", group[name])
        for name in KIND_FIELDS[kind]
        if name in checks and group.get(name) is not None
    }


def _group(where: str, group: Any) -> SeedGroup:
    if not isinstance(group, Mapping):
        raise _invalid(where.rstrip(".") or "body", "must be an object")
    kind = group.get("kind", "workspace")
    if kind not in SEED_KINDS:
        raise _invalid(f"{where}kind", f"one of {list(SEED_KINDS)}")
    unknown = sorted(set(group) - COMMON_FIELDS - KIND_FIELDS[kind])
    if unknown:
        raise _invalid(f"{where}{unknown[0]}", f"unknown field for kind {kind}")
    count = _integer(f"{where}count", group.get("count", 1), 0, MAX_SEEDED)
    prefix = group.get("prefix", DEFAULT_PREFIX[kind])
    if not isinstance(prefix, str) or not prefix:
        raise _invalid(f"{where}prefix", "a non-empty string")
    started_ago = group.get("started_ago_seconds")
    if started_ago is not None and not _seconds(started_ago, MAX_STARTED_AGO):
        raise _invalid(f"{where}started_ago_seconds", f"a number of seconds from 0 to {MAX_STARTED_AGO:g}")
    start = _boolean(f"{where}start", group.get("start", started_ago is not None))
    if started_ago is not None and not start:
        raise _invalid(f"{where}started_ago_seconds", "only for resources seeded with start: true")
    owner = parse_owner_spec(group["owner"], f"{where}owner") if group.get("owner") is not None else None
    return SeedGroup(
        kind=kind,
        count=count,
        prefix=prefix,
        start=start,
        started_ago=float(started_ago) if started_ago is not None else None,
        owner=owner,
        tags=parse_tags(group.get("tags"), f"{where}tags"),
        settings=_kind_settings(where, kind, group),
        start_workspaces=_boolean(f"{where}start_workspaces", group.get("start_workspaces", False)),
    )


def parse_seed(body: Mapping[str, Any]) -> list[SeedGroup]:
    """The groups of a seed body (one group, or ``{"groups": [...]}``); a 422 naming the field at fault."""
    if "groups" in body:
        if set(body) != {"groups"} or not isinstance(body["groups"], list):
            raise _invalid("groups", "a list of groups, and nothing else in the body")
        groups = [_group(f"groups[{index}].", group) for index, group in enumerate(body["groups"])]
    else:
        groups = [_group("", body)]
    if sum(group.count for group in groups) > MAX_SEEDED:
        raise _invalid("count", f"at most {MAX_SEEDED} resources in one request")
    return groups


def _names(state: SaturnState, groups: list[SeedGroup]) -> list[list[str]]:
    """Each group's names, continuing each prefix's numbering; a 409 if one is taken."""
    taken = {"workspace": state.names, "deployment": state.deployments.names, "job": state.jobs.names}
    counters = dict(state.seed_counters)
    names: list[list[str]] = []
    for group in groups:
        space = NAME_SPACE[group.kind]
        first = counters.get((space, group.prefix), 0)
        chosen = [f"{group.prefix}-{index:06d}" for index in range(first, first + group.count)]
        clash = next((name for name in chosen if name in taken[space]), None)
        if clash is not None:
            raise EmulatorError(409, f"A {space} named {clash!r} already exists")
        counters[(space, group.prefix)] = first + group.count
        names.append(chosen)
    state.seed_counters.update(counters)
    return names


def _job_command(started_ago: float | None) -> str:
    """A command whose run is still running a day from now, however long ago it started."""
    return f"echo seeded; sleep {started_ago or 0:g}; sleep {RUN_AFTER_NOW:g}"


def _seed_group(state: SaturnState, group: SeedGroup, owner: Owner, names: list[str]) -> dict[str, Any]:
    ids: list[str] = []
    workspace_ids: list[str] = []

    def started(kind: str, resource_id: str) -> None:
        if group.started_ago:
            state.backdate(kind, resource_id, group.started_ago)

    for name in names:
        tags = dict(group.tags)
        if group.kind == "workspace":
            workspace = state.create_workspace(name, {**group.settings, "tags": tags}, owner)
            if group.start:
                state.start_workspace(workspace.id)
                started("workspace", workspace.id)
            ids.append(workspace.id)
        elif group.kind == "dask_cluster":
            workspace = state.create_workspace(name, {"tags": tags}, owner)
            settings = {"worker_size": catalog.DEFAULT_SIZE, "scheduler_size": "medium", "n_workers": 1, "nthreads": 2}
            cluster = state.create_dask_cluster(workspace.id, {**settings, **group.settings, "tags": dict(tags)})
            if group.start:
                state.start_dask_cluster(cluster.id)
                started("dask_cluster", cluster.id)
            if group.start_workspaces:
                state.start_workspace(workspace.id)
                started("workspace", workspace.id)
            ids.append(cluster.id)
            workspace_ids.append(workspace.id)
        elif group.kind == "deployment":
            settings = {"command": "python -m http.server 8000", **group.settings, "tags": tags}
            deployment = state.deployments.create(name, settings, owner)
            if group.start:
                state.deployments.start(deployment.id)
                started("deployment", deployment.id)
            ids.append(deployment.id)
        else:
            settings = {"command": _job_command(group.started_ago), **group.settings, "tags": tags}
            job = state.jobs.create(name, settings, owner)
            if group.start:
                state.jobs.start(job.id, scripted=True)
                started("job", job.id)
            ids.append(job.id)
    answer: dict[str, Any] = {"kind": group.kind, "ids": ids}
    if group.kind == "dask_cluster":
        answer["workspace_ids"] = workspace_ids
    return answer


def seed(state: SaturnState, groups: list[SeedGroup]) -> dict[str, Any]:
    """Make every group's resources (the caller holds the state's lock)."""
    owners = [state.owners.resolve(group.owner) if group.owner else DEFAULT_OWNER for group in groups]
    names = _names(state, groups)
    answers = [
        _seed_group(state, group, owner, chosen) for group, owner, chosen in zip(groups, owners, names, strict=True)
    ]
    return {"ids": [resource_id for answer in answers for resource_id in answer["ids"]], "groups": answers}
