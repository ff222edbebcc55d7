"""The ``active`` endpoints: every active resource (``active_resources.py``), the live pods of a job or
deployment, one pod, and a pod's latest log lines.

``/api/active/resources`` takes ``resource_type``, ``list_by`` (``owner``, ``org`` or ``account``: see
``owners.owner_filter``), ``user_id``/``group_id``/``org_id``, ``next_key``/``prev_key`` and ``page_size``.

The list shows the pods of a job's pending or running runs (earlier, failed attempts included) and those of a
pending or running deployment; other workload types have none here. One pod is found by name as long as
its job run is visible (so a finished run's pods still answer, with their exit codes) or its deployment runs.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator import logs
from airflow_provider_saturn.emulator.active_resources import active_page, parse_resource_type
from airflow_provider_saturn.emulator.handlers import Api, flag, identity, page, page_size
from airflow_provider_saturn.emulator.jobs import JobRun
from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.owners import owner_filter
from airflow_provider_saturn.emulator.pods import CONTAINER, Pod
from airflow_provider_saturn.emulator.render_pods import pod_summary_json
from airflow_provider_saturn.emulator.runs import RUN_ACTIVE
from airflow_provider_saturn.emulator.state import SaturnState

WORKLOAD_TYPES = ("dask", "deployment", "image_build", "job", "workspace")


def active_routes(state: SaturnState, api: Api) -> list[Route]:
    def list_resources(request: Request, body: dict[str, Any]) -> Any:
        query = request.query_params
        kinds = parse_resource_type(query.get("resource_type"))
        shown = owner_filter(
            identity(request), query.get("list_by"), query.get("user_id"), query.get("group_id"), query.get("org_id")
        )
        size = page_size(query)
        return active_page(state, kinds, shown, size, query.get("next_key"), query.get("prev_key"))

    def live_pods(workload_type: str, workload_id: str) -> list[Pod]:
        now = state.now()
        if workload_type == "job":
            record = state.jobs.get(workload_id)
            runs = [run for run in record.visible_runs(now) if run.status(now) in RUN_ACTIVE]
            return [pod for run in runs for pod in run.pods(now)]
        if workload_type == "deployment":
            return state.deployments.get(workload_id).pods(state.transition_seconds)
        return []

    def find(name: str) -> tuple[JobRun | None, Pod]:
        found = state.jobs.pod(name)
        if found is not None:
            return found
        pod = state.deployments.pod(name)
        if pod is None:
            raise EmulatorError(404, f"Pod {name} not found")
        return None, pod

    def list_pods(request: Request, body: dict[str, Any]) -> Any:
        query = request.query_params
        workload_type, workload_id = query.get("workload_type"), query.get("workload_id")
        if workload_type not in WORKLOAD_TYPES:
            raise EmulatorError(422, f"workload_type: required, one of {list(WORKLOAD_TYPES)}")
        if not workload_id:
            raise EmulatorError(422, "workload_id: required")
        pods = live_pods(workload_type, workload_id)
        return page(query, pods, "pod_summaries", lambda pod: pod_summary_json(pod, state), lambda pod: pod.name)

    def get_pod(request: Request, body: dict[str, Any]) -> Any:
        _, pod = find(request.path_params["pod"])
        return pod_summary_json(pod, state)

    def pod_logs(request: Request, body: dict[str, Any]) -> Any:
        """The pod's last ``page_size`` lines (default 1000, at most 5000), joined by newlines."""
        query = request.query_params
        size = page_size(query, default=1000, maximum=5000)
        run, pod = find(request.path_params["pod"])
        container = query.get("container_name", CONTAINER)
        if container != CONTAINER or flag(query, "previous"):
            previous = "previous terminated " if flag(query, "previous") else ""
            raise EmulatorError(404, f"No {previous}container {container!r} in pod {pod.name}")
        segments = run.segments(pod, state.now()) if run is not None else []
        return {"logs": "\n".join(logs.tail(segments, size))}

    return [
        Route("/api/active/resources", api(list_resources), methods=["GET"]),
        Route("/api/active/pods", api(list_pods), methods=["GET"]),
        Route("/api/active/pods/{pod}", api(get_pod), methods=["GET"]),
        Route("/api/active/pods/{pod}/logs", api(pod_logs), methods=["GET"]),
    ]
