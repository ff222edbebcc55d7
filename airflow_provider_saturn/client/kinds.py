"""The kinds of resource a wait can follow, one row each: how to read one back, and how to stop it.

Both clients, the operators, the sensors and the trigger dispatch on this table, so a new kind is a new row,
not a new branch. Most kinds are read with one ``GET`` of their item path. A job run has no item path of its
own: it is read by walking its job's ``runtimesummary`` pages for its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.job_runs import job_run_from_summary, split_job_run_key
from airflow_provider_saturn.client.paths import Paths, item_path

Normaliser = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ReadPlan:
    """How to read one resource: ``GET path`` put through ``shape``; or, with ``list_field``, walk the pages at
    ``path`` and take the first item that ``match`` accepts (none: the resource does not exist)."""

    path: str
    shape: Normaliser
    list_field: str | None = None
    match: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class ResourceWire:
    """How one kind of resource is addressed, read back and stopped.

    :param label: what errors call it.
    :param collection: the API path of its list.
    :param argument: the argument that holds an id of this kind, for errors about the id.
    :param normalise: turns Saturn's object into the provider's dict (``id`` and ``status`` always there).
    """

    label: str
    collection: str
    argument: str
    normalise: Normaliser

    def path(self, resource_id: object, action: str = "") -> str:
        """The API path of one resource (or of an action on it); the id is checked and escaped."""
        return item_path(self.collection, resource_id, self.argument, action)

    def read_plan(self, resource_id: object) -> ReadPlan:
        return ReadPlan(self.path(resource_id), self.normalise)

    def stop_plan(self, resource_id: object) -> tuple[str, Normaliser | None]:
        """The path that stops it, and how to read the answer (``None``: read the resource again)."""
        return self.path(resource_id, "stop"), self.normalise


class JobRunWire(ResourceWire):
    """A job run, named by the key ``"<job id>/<run name>"`` (see :func:`~.job_runs.job_run_key`)."""

    def read_plan(self, resource_id: object) -> ReadPlan:
        job_id, run_name = split_job_run_key(resource_id)
        return ReadPlan(
            Paths.job(job_id, "runtimesummary"),
            lambda summary: job_run_from_summary(job_id, summary),
            list_field="job_summaries",
            match=lambda summary: summary.get("name") == run_name,
        )

    def stop_plan(self, resource_id: object) -> tuple[str, Normaliser | None]:
        job_id, run_name = split_job_run_key(resource_id)
        return Paths.job_run_stop(job_id, run_name), None  # Saturn answers with the Job, not the run


RESOURCES: dict[str, ResourceWire] = {
    "jupyter_server": ResourceWire(
        "jupyter server", Paths.WORKSPACES, "jupyter_server_id", wire.jupyter_server_from_workspace
    ),
    "dask_cluster": ResourceWire(
        "dask cluster", Paths.DASK_CLUSTERS, "dask_cluster_id", wire.dask_cluster_from_response
    ),
    "deployment": ResourceWire("deployment", Paths.DEPLOYMENTS, "deployment_id", wire.deployment_from_response),
    "job_run": JobRunWire("job run", Paths.JOBS, "job_run_id", wire.job_from_response),
}


def resource_wire(kind: str) -> ResourceWire:
    """The row of ``kind``: one of :data:`RESOURCES`."""
    if kind not in RESOURCES:
        raise ValueError(f"resource kind must be one of {list(RESOURCES)}, not {kind!r}")
    return RESOURCES[kind]
