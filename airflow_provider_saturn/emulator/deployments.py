"""Saturn deployments: long-running services that start and stop like workspaces, with ``scale`` pods.

``pending`` turns ``running`` and ``stopping`` turns ``stopped`` after ``transition_seconds``; a start on a
pending or running deployment, or a stop on a stopped one, changes nothing. While a deployment is pending
or running it has ``scale`` pods, renamed at each start.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_saturn.emulator.active_index import ActiveIndex, next_seq
from airflow_provider_saturn.emulator.lifecycle import ACTIVE, EmulatorError, Lifecycle, Timing, timestamp
from airflow_provider_saturn.emulator.naming import UniqueNames, apply_changes
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, default_owner
from airflow_provider_saturn.emulator.pods import Pod


@dataclass
class DeploymentRecord:
    id: str
    name: str
    settings: dict[str, Any]
    created_at: str
    updated_at: str
    life: Lifecycle = field(default_factory=Lifecycle)
    last_deploy: str | None = None
    debug_mode: bool = False
    require_restart: bool = False
    replica_set: str = ""  # the pods' name prefix since the last start
    owner: Owner = field(default_factory=default_owner)
    seq: int = field(default_factory=next_seq)

    @property
    def k8s_name(self) -> str:
        return f"deployment-{self.id[:12]}"

    @property
    def scale(self) -> int:
        return int(self.settings.get("scale") or 1)

    def pods(self, transition_seconds: float) -> list[Pod]:
        """Its pods while pending or running (read after the lifecycle settled)."""
        if self.life.status not in ACTIVE:
            return []
        running = self.life.status == "running"
        pods = []
        for replica in range(self.scale):
            suffix = hashlib.sha256(f"{self.replica_set}:{replica}".encode()).hexdigest()[:5]
            pods.append(
                Pod(
                    name=f"{self.replica_set}-{suffix}",
                    uid=hashlib.sha256(f"pod:{self.replica_set}:{replica}".encode()).hexdigest()[:32],
                    controller_uid=self.replica_set,
                    controller_kind="ReplicaSet",
                    labels={"app": self.k8s_name, "saturncloud.io/resource-id": self.id},
                    status=self.life.status,
                    created=self.life.since,
                    container_started=self.life.since + transition_seconds if running else None,
                    finished=None,
                    exit_code=None,
                    order=(0, replica),
                )
            )
        return pods


class DeploymentStore:
    """Every deployment of one emulator; callers hold the state's lock. A start notes it in ``active``."""

    def __init__(self, timing: Timing, active: ActiveIndex | None = None) -> None:
        self.timing = timing
        self.active = active if active is not None else ActiveIndex()
        self.records: dict[str, DeploymentRecord] = {}
        self.names = UniqueNames("deployment")

    def get(self, deployment_id: str) -> DeploymentRecord:
        record = self.records.get(deployment_id)
        if record is None:
            raise EmulatorError(404, f"Deployment {deployment_id} not found")
        record.life.settle(self.timing.now(), self.timing.transition_seconds)
        return record

    def listing(self) -> list[DeploymentRecord]:
        return [self.get(deployment_id) for deployment_id in self.records]

    def create(self, name: str, settings: dict[str, Any], owner: Owner = DEFAULT_OWNER) -> DeploymentRecord:
        now = timestamp()
        record = DeploymentRecord(
            id=uuid.uuid4().hex, name=name, settings=settings, created_at=now, updated_at=now, owner=owner
        )
        self.names.claim(name, record.id)
        self.records[record.id] = record
        return record

    def update(self, deployment_id: str, changes: dict[str, Any]) -> DeploymentRecord:
        record = self.get(deployment_id)
        apply_changes(record, self.names, changes, active=record.life.status in ACTIVE)
        return record

    def delete(self, deployment_id: str, allow_active: bool) -> None:
        record = self.get(deployment_id)
        if record.life.status in ACTIVE and not allow_active:
            raise EmulatorError(
                409, f"Deployment {deployment_id} is {record.life.status}: stop it first or pass allow_active=true"
            )
        del self.records[deployment_id]
        del self.names[record.name]

    def start(self, deployment_id: str, debug_mode: bool = False) -> DeploymentRecord:
        record = self.get(deployment_id)
        if record.life.status not in ACTIVE:
            now = self.timing.now()
            record.life.move("pending", now)
            record.last_deploy = self.timing.stamp(now)
            record.replica_set = f"{record.k8s_name}-{secrets.token_hex(5)[:9]}"
            record.require_restart = False
            record.debug_mode = debug_mode
            self.active.add("deployment", record.seq, record.id)
        return record

    def backdate(self, deployment_id: str, moment: float) -> None:
        """Move the current start of a pending or running deployment to ``moment``; a 409 otherwise."""
        record = self.get(deployment_id)
        if record.life.status not in ACTIVE:
            raise EmulatorError(409, f"Deployment {deployment_id} is {record.life.status}, not pending or running")
        record.life.since = moment
        record.life.started_at = record.last_deploy = self.timing.stamp(moment)
        record.life.settle(self.timing.now(), self.timing.transition_seconds)

    def stop(self, deployment_id: str) -> DeploymentRecord:
        record = self.get(deployment_id)
        if record.life.status in ACTIVE or record.life.status == "error":
            record.life.move("stopping", self.timing.now())
            record.require_restart = False
        return record

    def fail(self, deployment_id: str, message: str) -> None:
        record = self.get(deployment_id)
        record.life.move("error", self.timing.now())
        record.life.message = message

    def pod(self, name: str) -> Pod | None:
        """The pod named ``name`` of a pending or running deployment, if any."""
        for deployment_id in self.records:
            for pod in self.get(deployment_id).pods(self.timing.transition_seconds):
                if pod.name == name:
                    return pod
        return None

    def clear(self) -> None:
        self.records.clear()
        self.names.clear()
