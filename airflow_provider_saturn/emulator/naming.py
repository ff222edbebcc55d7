"""What workspaces, jobs and deployments share as records: a name unique among their kind, and settings
whose change asks a running resource to restart."""

from __future__ import annotations

from typing import Any, Protocol

from airflow_provider_saturn.emulator.lifecycle import EmulatorError, timestamp

# Changing these leaves a running resource as it is; any other setting asks for a restart.
NO_RESTART_FIELDS = frozenset({"description", "tags"})


class UniqueNames(dict[str, str]):
    """Name -> id for one kind of resource; a name taken twice is Saturn's 409.

    :param kind: what the 409's message calls the resource, e.g. ``"job"``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def claim(self, name: str, resource_id: str) -> None:
        if name in self:
            raise EmulatorError(409, f"A {self.kind} named {name!r} already exists")
        self[name] = resource_id

    def rename(self, old: str, new: str, resource_id: str) -> None:
        if new != old:
            self.claim(new, resource_id)
            del self[old]


class Configured(Protocol):
    """A record with settings (workspace, job, deployment)."""

    name: str
    id: str
    settings: dict[str, Any]
    updated_at: str
    require_restart: bool


def apply_changes(record: Configured, names: UniqueNames, changes: dict[str, Any], *, active: bool) -> None:
    """A PATCH: a new name (still unique), new settings, and ``require_restart`` when an active resource had
    a setting changed that needs one."""
    name = changes.pop("name", record.name)
    names.rename(record.name, name, record.id)
    record.name = name
    restart_needed = any(
        key not in NO_RESTART_FIELDS and record.settings.get(key) != value for key, value in changes.items()
    )
    record.settings.update(changes)
    record.updated_at = timestamp()
    if restart_needed and active:
        record.require_restart = True
