"""The emulator's resources and how their statuses move with time.

Statuses are worked out when read, from the time of the last start or stop: ``pending`` turns ``running``
and ``stopping`` turns ``stopped`` once ``transition_seconds`` have passed. Nothing runs in the background, but
in real-Dask mode (``dask_backend``, see ``real_dask.py``), where a Dask cluster's processes move its status.
Each Dask cluster has its own CA (``dask_authorities``, see ``dask_tls.py``) in every mode.
Workspaces and Dask clusters live here; jobs and deployments in their own stores (``jobs.py``,
``deployments.py``), which this state holds and times. It also holds what spans every kind: the owners
(``owners.py``), the index of active resources (``active_index.py``) and the scripted metrics
(``metrics_script.py``).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from airflow_provider_saturn.emulator.active_index import ActiveIndex, next_seq
from airflow_provider_saturn.emulator.dask_tls import ClusterAuthorities
from airflow_provider_saturn.emulator.deployments import DeploymentStore
from airflow_provider_saturn.emulator.jobs import JobStore
from airflow_provider_saturn.emulator.lifecycle import (
    ACTIVE,
    TIMESTAMP_FORMAT,
    EmulatorError,
    Lifecycle,
)
from airflow_provider_saturn.emulator.lifecycle import timestamp as _timestamp
from airflow_provider_saturn.emulator.metrics_script import MetricsScript
from airflow_provider_saturn.emulator.naming import UniqueNames, apply_changes
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, OwnerRegistry, default_owner

__all__ = ["ACTIVE", "DaskClusterRecord", "EmulatorError", "Lifecycle", "SaturnState", "WorkspaceRecord"]

SETTINGS = ("transition_seconds", "run_visibility_delay")
"""What ``SaturnState.configure`` changes."""
KINDS = ("workspace", "dask_cluster", "deployment", "job")
"""How test controls name the kinds of resources."""
MAX_BACKDATE = 30 * 86400.0
"""How far back (seconds) a start can be moved."""


@dataclass
class DaskClusterRecord:
    id: str
    workspace_id: str
    worker_size: str
    scheduler_size: str
    n_workers: int
    nthreads: int
    created_at: str
    life: Lifecycle = field(default_factory=Lifecycle)
    tags: dict[str, str] = field(default_factory=dict)
    owner: Owner = field(default_factory=default_owner)
    seq: int = field(default_factory=next_seq)


class DaskBackend(Protocol):
    """What runs a Dask cluster's processes for real (``real_dask.py``); called under the state's lock."""

    def lifecycle(self) -> Lifecycle:
        """The lifecycle of a new cluster: one whose status only the backend moves on (not time)."""

    def start(self, record: DaskClusterRecord) -> None:
        """Start the processes of ``record`` (just moved to ``pending``); the backend moves it on."""

    def stop(self, cluster_id: str) -> bool:
        """End the cluster's processes; whether some were left to end (then it moves the cluster to
        ``stopped`` once they have ended, if the cluster is still ``stopping``)."""

    def scale(self, record: DaskClusterRecord, n_workers: int) -> None:
        """Check and apply a new worker count (``record.n_workers`` is still the old one)."""

    def endpoint(self, cluster_id: str) -> tuple[str, int | None] | None:
        """The scheduler's address and dashboard port of a running cluster, ``None`` if it is not running."""


@dataclass
class WorkspaceRecord:
    id: str
    name: str
    settings: dict[str, Any]
    created_at: str
    updated_at: str
    life: Lifecycle = field(default_factory=Lifecycle)
    require_restart: bool = False
    debug_mode: bool = False
    dask_cluster_id: str | None = None
    owner: Owner = field(default_factory=default_owner)
    seq: int = field(default_factory=next_seq)


class SaturnState:
    """Every workspace, Dask cluster, job and deployment of one emulator, behind one lock.

    :param transition_seconds: how long ``pending`` and ``stopping`` last.
    :param run_visibility_delay: how long a new job run stays out of runtime summaries, history and active pods.
    :param clock: monotonic seconds, which every status is decided from.
    """

    def __init__(
        self,
        transition_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        run_visibility_delay: float = 0.0,
    ) -> None:
        self.transition_seconds = transition_seconds
        self.run_visibility_delay = run_visibility_delay
        self._initial_run_visibility_delay = run_visibility_delay
        self.clock = clock
        self.epoch = time.time() - clock()  # wall-clock seconds at clock() == 0
        self.lock = threading.RLock()
        self.workspaces: dict[str, WorkspaceRecord] = {}
        self.dask_clusters: dict[str, DaskClusterRecord] = {}
        self.names = UniqueNames("workspace")
        self.active = ActiveIndex()
        self.owners = OwnerRegistry()
        self.metrics: dict[tuple[str, str], MetricsScript] = {}  # (kind, id) -> scripted metrics
        self.seed_counters: dict[tuple[str, str], int] = {}  # (name space, prefix) -> next seeded index
        self.jobs = JobStore(self, self.active)
        self.deployments = DeploymentStore(self, self.active)
        self.dask_authorities = ClusterAuthorities()
        """Each Dask cluster's CA (``dask_tls.py``), in every mode."""
        self.dask_backend: DaskBackend | None = None
        """Real-Dask mode: runs each Dask cluster's scheduler and workers (``real_dask.py``)."""

    # ---------------------------------------------------------------- time and settings

    def now(self) -> float:
        return self.clock()

    def stamp(self, moment: float) -> str:
        """The wall-clock timestamp of the monotonic ``moment``."""
        return datetime.fromtimestamp(self.epoch + moment, UTC).strftime(TIMESTAMP_FORMAT)

    def settings(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in SETTINGS}

    def configure(self, **settings: Any) -> dict[str, float]:
        """Change ``transition_seconds`` and/or ``run_visibility_delay`` (seconds, at least 0); all or nothing."""
        for name, value in settings.items():
            if name not in SETTINGS:
                raise ValueError(f"{name}: unknown setting; known: {list(SETTINGS)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ValueError(f"{name}: must be a number of seconds, at least 0, not {value!r}")
        for name, value in settings.items():
            setattr(self, name, float(value))
        return self.settings()

    # ---------------------------------------------------------------- lookups

    def _settled(self, life: Lifecycle) -> Lifecycle:
        life.settle(self.clock(), self.transition_seconds)
        return life

    def workspace(self, workspace_id: str) -> WorkspaceRecord:
        record = self.workspaces.get(workspace_id)
        if record is None:
            raise EmulatorError(404, f"Workspace {workspace_id} not found")
        self._settled(record.life)
        return record

    def dask_cluster(self, cluster_id: str) -> DaskClusterRecord:
        record = self.dask_clusters.get(cluster_id)
        if record is None:
            raise EmulatorError(404, f"Dask cluster {cluster_id} not found")
        self._settled(record.life)
        return record

    def list_workspaces(self) -> list[WorkspaceRecord]:
        for record in self.workspaces.values():
            self._settled(record.life)
        return list(self.workspaces.values())

    # ---------------------------------------------------------------- workspaces

    def create_workspace(self, name: str, settings: dict[str, Any], owner: Owner = DEFAULT_OWNER) -> WorkspaceRecord:
        now = _timestamp()
        record = WorkspaceRecord(
            id=uuid.uuid4().hex, name=name, settings=settings, created_at=now, updated_at=now, owner=owner
        )
        self.names.claim(name, record.id)
        self.workspaces[record.id] = record
        return record

    def update_workspace(self, workspace_id: str, changes: dict[str, Any]) -> WorkspaceRecord:
        record = self.workspace(workspace_id)
        apply_changes(record, self.names, changes, active=record.life.status in ACTIVE)
        return record

    def delete_workspace(self, workspace_id: str, allow_active: bool) -> None:
        record = self.workspace(workspace_id)
        if record.life.status in ACTIVE and not allow_active:
            raise EmulatorError(
                409, f"Workspace {workspace_id} is {record.life.status}: stop it first or pass allow_active=true"
            )
        if record.dask_cluster_id:
            self._forget_dask_cluster(record.dask_cluster_id)
        del self.workspaces[workspace_id]
        del self.names[record.name]

    def start_workspace(self, workspace_id: str, debug_mode: bool = False) -> WorkspaceRecord:
        record = self.workspace(workspace_id)
        if record.life.status not in ACTIVE:
            record.life.move("pending", self.clock())
            record.require_restart = False
            record.debug_mode = debug_mode
            self.active.add("workspace", record.seq, record.id)
        return record

    def stop_workspace(self, workspace_id: str) -> WorkspaceRecord:
        record = self.workspace(workspace_id)
        if record.life.status in ACTIVE or record.life.status == "error":
            record.life.move("stopping", self.clock())
            record.require_restart = False
        if record.dask_cluster_id and record.dask_cluster_id in self.dask_clusters:
            self.stop_dask_cluster(record.dask_cluster_id)
        return record

    # ---------------------------------------------------------------- Dask clusters

    def create_dask_cluster(self, workspace_id: str, settings: dict[str, Any]) -> DaskClusterRecord:
        workspace = self.workspace(workspace_id)
        if workspace.dask_cluster_id:
            raise EmulatorError(409, f"Workspace {workspace_id} already has a Dask cluster")
        life = self.dask_backend.lifecycle() if self.dask_backend is not None else Lifecycle()
        record = DaskClusterRecord(
            id=uuid.uuid4().hex,
            workspace_id=workspace_id,
            created_at=_timestamp(),
            owner=workspace.owner,
            life=life,
            **settings,
        )
        self.dask_clusters[record.id] = record
        workspace.dask_cluster_id = record.id
        return record

    def start_dask_cluster(self, cluster_id: str) -> DaskClusterRecord:
        record = self.dask_cluster(cluster_id)
        if record.life.status not in ACTIVE:
            record.life.move("pending", self.clock())
            self.active.add("dask", record.seq, record.id)
            if self.dask_backend is not None:
                self.dask_backend.start(record)
        return record

    def stop_dask_cluster(self, cluster_id: str) -> DaskClusterRecord:
        record = self.dask_cluster(cluster_id)
        if record.life.status in ACTIVE or record.life.status == "error":
            record.life.move("stopping", self.clock())
            if self.dask_backend is not None and not self.dask_backend.stop(cluster_id):
                record.life.move("stopped", self.clock())
        return record

    def scale_dask_cluster(self, cluster_id: str, n_workers: int) -> DaskClusterRecord:
        """Set the cluster's worker count (real-Dask mode: its workers follow, a 400/409 if it cannot)."""
        record = self.dask_cluster(cluster_id)
        if self.dask_backend is not None:
            self.dask_backend.scale(record, n_workers)
        record.n_workers = n_workers
        return record

    def _forget_dask_cluster(self, cluster_id: str) -> None:
        """The cluster is gone: its processes end, its CA is forgotten."""
        self.dask_clusters.pop(cluster_id, None)
        if self.dask_backend is not None:
            self.dask_backend.stop(cluster_id)
        self.dask_authorities.forget(cluster_id)

    # ---------------------------------------------------------------- test controls

    def fail(self, kind: str, resource_id: str, message: str) -> None:
        """Put a workspace, Dask cluster or deployment into ``error`` with ``message``."""
        if kind == "deployment":
            self.deployments.fail(resource_id, message)
            return
        record = self.workspace(resource_id) if kind == "workspace" else self.dask_cluster(resource_id)
        record.life.move("error", self.clock())
        record.life.message = message
        if kind == "dask_cluster" and self.dask_backend is not None:
            self.dask_backend.stop(resource_id)  # a failed cluster's processes end; it stays in error

    def resource(self, kind: str, resource_id: str) -> object:
        """The resource of a control ``kind`` (see ``KINDS``), its status settled; a 404 if there is none."""
        if kind == "workspace":
            return self.workspace(resource_id)
        if kind == "dask_cluster":
            return self.dask_cluster(resource_id)
        if kind == "deployment":
            return self.deployments.get(resource_id)
        if kind == "job":
            return self.jobs.get(resource_id)
        raise EmulatorError(422, f"kind: one of {list(KINDS)}")

    def set_metrics(self, kind: str, resource_id: str, script: MetricsScript) -> MetricsScript:
        """Script the resource's metrics (a 404 if there is no such resource); an empty script means defaults."""
        self.resource(kind, resource_id)
        if script == MetricsScript():
            self.metrics.pop((kind, resource_id), None)
        else:
            self.metrics[(kind, resource_id)] = script
        return script

    def backdate(self, kind: str, resource_id: str, seconds: float) -> None:
        """Make an active resource's current start ``seconds`` ago (a job: each of its active runs').

        Its ``started_at`` (workspace) or ``last_deploy`` (deployment, job) moves too, and so does its
        status: a start backdated past ``transition_seconds`` is running, a job run past its script has ended.
        A 409 if the resource is not active.
        """
        if kind not in KINDS:
            raise EmulatorError(422, f"kind: one of {list(KINDS)}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_BACKDATE:
            raise EmulatorError(422, f"seconds: a number of seconds from 0 to {MAX_BACKDATE:g} (30 days)")
        moment = self.clock() - seconds
        if kind == "deployment":
            self.deployments.backdate(resource_id, moment)
            return
        if kind == "job":
            self.jobs.backdate(resource_id, moment)
            return
        record = self.workspace(resource_id) if kind == "workspace" else self.dask_cluster(resource_id)
        if record.life.status not in ACTIVE:
            raise EmulatorError(409, f"{kind} {resource_id} is {record.life.status}, not pending or running")
        record.life.since = moment
        record.life.started_at = self.stamp(moment)
        self._settled(record.life)

    def reset(self) -> None:
        """Forget every resource, owner (but the tokens') and metrics script; ``run_visibility_delay`` returns
        to the value the state was made with."""
        self.workspaces.clear()
        self.names.clear()
        for cluster_id in list(self.dask_clusters):
            self._forget_dask_cluster(cluster_id)
        self.dask_authorities.clear()
        self.jobs.clear()
        self.deployments.clear()
        self.active.clear()
        self.owners.reset()
        self.metrics.clear()
        self.seed_counters.clear()
        self.run_visibility_delay = self._initial_run_visibility_delay
