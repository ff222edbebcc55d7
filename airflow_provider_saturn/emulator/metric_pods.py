"""The pods whose usage metrics a resource reports: those running now, with the names and roles scripts use.

A workspace has one pod; a Dask cluster a scheduler and ``n_workers`` workers (labelled
``dask.org/component``); a deployment its ``scale`` pods (the ones ``/api/active/pods`` lists); a job the
running pods of its runs. A resource that is not running (pending, stopping, stopped, error) has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_saturn.emulator import catalog
from airflow_provider_saturn.emulator.deployments import DeploymentRecord
from airflow_provider_saturn.emulator.jobs import JobRecord
from airflow_provider_saturn.emulator.state import DaskClusterRecord, SaturnState, WorkspaceRecord

RESOURCE_ID_LABEL = "saturncloud.io/resource-id"
DASK_COMPONENT_LABEL = "dask.org/component"


@dataclass(frozen=True)
class MetricPod:
    """A running pod, as metrics see it.

    :param keys: what a metrics script may call it, most specific first: its name, then its roles.
    :param component: ``scheduler`` or ``worker`` for a Dask cluster's pods, else ``None``.
    :param running_from: monotonic seconds when its container started running.
    :param gpu: whether its instance size has a GPU.
    """

    name: str
    labels: dict[str, str]
    keys: tuple[str, ...]
    component: str | None
    running_from: float
    gpu: bool


def has_gpu(size: str | None) -> bool:
    spec = catalog.SIZES.get(size or catalog.DEFAULT_SIZE)
    return bool(spec and spec["gpu"])


def workspace_pods(record: WorkspaceRecord, state: SaturnState) -> list[MetricPod]:
    if record.life.status != "running":
        return []
    name = f"workspace-{record.id[:12]}-0"
    return [
        MetricPod(
            name=name,
            labels={RESOURCE_ID_LABEL: record.id, "saturncloud.io/resource-type": "workspace"},
            keys=(name,),
            component=None,
            running_from=record.life.since + state.transition_seconds,
            gpu=has_gpu(record.settings.get("instance_size")),
        )
    ]


def dask_cluster_pods(record: DaskClusterRecord, state: SaturnState) -> list[MetricPod]:
    if record.life.status != "running":
        return []
    cluster = f"dask-{record.id[:12]}"
    running_from = record.life.since + state.transition_seconds

    def pod(name: str, component: str, roles: tuple[str, ...], size: str) -> MetricPod:
        labels = {RESOURCE_ID_LABEL: record.id, "dask.org/cluster-name": cluster, DASK_COMPONENT_LABEL: component}
        return MetricPod(name, labels, (name, *roles), component, running_from, has_gpu(size))

    scheduler = pod(f"{cluster}-scheduler", "scheduler", ("scheduler",), record.scheduler_size)
    workers = [
        pod(f"{cluster}-worker-{index}", "worker", (f"worker-{index}", "worker"), record.worker_size)
        for index in range(record.n_workers)
    ]
    return [scheduler, *workers]


def deployment_pods(record: DeploymentRecord, state: SaturnState) -> list[MetricPod]:
    gpu = has_gpu(record.settings.get("instance_size"))
    return [
        MetricPod(pod.name, dict(pod.labels), (pod.name, f"replica-{index}"), None, pod.container_started, gpu)
        for index, pod in enumerate(record.pods(state.transition_seconds))
        if pod.status == "running" and pod.container_started is not None
    ]


def job_pods(record: JobRecord, state: SaturnState) -> list[MetricPod]:
    now = state.now()
    gpu = has_gpu(record.settings.get("instance_size"))
    return [
        MetricPod(pod.name, dict(pod.labels), (pod.name,), None, pod.container_started, gpu)
        for run in record.runs
        for pod in run.pods(now)
        if pod.status == "running" and pod.container_started is not None
    ]


def pods_of(kind: str, resource_id: str, state: SaturnState) -> list[MetricPod]:
    """The running pods of the resource (a 404 if there is no such resource), its status settled first."""
    finders: dict[str, Callable[[], list[MetricPod]]] = {
        "workspace": lambda: workspace_pods(state.workspace(resource_id), state),
        "dask_cluster": lambda: dask_cluster_pods(state.dask_cluster(resource_id), state),
        "deployment": lambda: deployment_pods(state.deployments.get(resource_id), state),
        "job": lambda: job_pods(state.jobs.get(resource_id), state),
    }
    return finders[kind]()
