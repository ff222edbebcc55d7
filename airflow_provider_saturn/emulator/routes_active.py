"""The ``active`` endpoints: the live pods of a job or deployment, one pod, and a pod's latest log lines.

The list shows the pods of a job's pending or running runs (earlier, failed attempts included) and those of a
pending or running deployment; other workload types have none here. One pod is found by name as long as
its job run is visible (so a finished run's pods still answer, with their exit codes) or its deployment runs.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator import logs
from airflow_provider_saturn.emulator.handlers import Api, flag, page, page_size
from airflow_provider_saturn.emulator.lifecycle import EmulatorError
from airflow_provider_saturn.emulator.pods import CONTAINER, Pod
from airflow_provider_saturn.emulator.render_pods import pod_summary_json
from airflow_provider_saturn.emulator.runs import RUN_ACTIVE, RunRecord
from airflow_provider_saturn.emulator.state import SaturnState

WORKLOAD_TYPES = ("dask", "deployment", "image_build", "job", "workspace")


def active_routes(state: SaturnState, api: Api) -> list[Route]:
    def live_pods(workload_type: str, workload_id: str) -> list[Pod]:
        now = state.now()
        if workload_type == "job":
            record = state.jobs.get(workload_id)
            runs = [run for run in record.visible_runs(now) if run.status(now) in RUN_ACTIVE]
            return [pod for run in runs for pod in run.pods(now)]
        if workload_type == "deployment":
            return state.deployments.get(workload_id).pods(state.transition_seconds)
        return []

    def find(name: str) -> tuple[RunRecord | None, Pod]:
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
        Route("/api/active/pods", api(list_pods), methods=["GET"]),
        Route("/api/active/pods/{pod}", api(get_pod), methods=["GET"]),
        Route("/api/active/pods/{pod}/logs", api(pod_logs), methods=["GET"]),
    ]
