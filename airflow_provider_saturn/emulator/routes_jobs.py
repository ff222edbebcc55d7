"""The jobs endpoints: jobs, their runs (runtime summaries), pod history and historic logs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator import logs
from airflow_provider_saturn.emulator.handlers import Api, flag, page, page_size
from airflow_provider_saturn.emulator.render_pods import log_page_json, pod_history_json
from airflow_provider_saturn.emulator.render_workloads import job_json, run_summary_json
from airflow_provider_saturn.emulator.state import SaturnState
from airflow_provider_saturn.emulator.workload_validation import parse_job_create, parse_job_update, parse_start


def job_routes(state: SaturnState, api: Api) -> list[Route]:
    jobs = state.jobs

    def list_jobs(request: Request, body: dict[str, Any]) -> Any:
        query = request.query_params
        items = jobs.listing()
        if query.get("name"):
            items = [record for record in items if query["name"] in record.name]
        return page(query, items, "jobs", lambda record: job_json(record, state))

    def create_job(request: Request, body: dict[str, Any]) -> Any:
        name, settings = parse_job_create(body, run_commands=jobs.runner is not None)
        return job_json(jobs.create(name, settings), state)

    def get_job(request: Request, body: dict[str, Any]) -> Any:
        return job_json(jobs.get(request.path_params["id"]), state)

    def update_job(request: Request, body: dict[str, Any]) -> Any:
        changes = parse_job_update(body, run_commands=jobs.runner is not None)
        return job_json(jobs.update(request.path_params["id"], changes), state)

    def delete_job(request: Request, body: dict[str, Any]) -> Any:
        jobs.delete(request.path_params["id"], flag(request.query_params, "allow_active"))
        return None

    def start_job(request: Request, body: dict[str, Any]) -> Any:
        debug_mode = parse_start(body)
        return job_json(jobs.start(request.path_params["id"], debug_mode), state)

    def stop_job(request: Request, body: dict[str, Any]) -> Any:
        return job_json(jobs.stop(request.path_params["id"]), state)

    def stop_run(request: Request, body: dict[str, Any]) -> Any:
        return job_json(jobs.stop(request.path_params["id"], request.path_params["run"]), state)

    def runtime_summaries(request: Request, body: dict[str, Any]) -> Any:
        record = jobs.get(request.path_params["id"])
        runs = record.visible_runs(state.now())
        return page(
            request.query_params, runs, "job_summaries", lambda run: run_summary_json(run, state), lambda run: run.name
        )

    def pod_history(request: Request, body: dict[str, Any]) -> Any:
        now = state.now()
        record = jobs.get(request.path_params["id"])
        pods = [pod for run in record.visible_runs(now) for pod in run.pods(now)]
        pods.sort(key=lambda pod: (pod.created, pod.order), reverse=True)
        return {"pods": [pod_history_json(pod, state) for pod in pods]}

    def job_logs(request: Request, body: dict[str, Any]) -> Any:
        """Lines already written by one pod (``pod_name``) or by every pod of the job, in time order."""
        now = state.now()
        query = request.query_params
        size = page_size(query)
        record = jobs.get(request.path_params["id"])
        pod_name = query.get("pod_name")
        segments = [
            segment
            for run in record.runs
            for pod in run.pods(now)
            if pod_name is None or pod.name == pod_name
            for segment in run.segments(pod, now)
        ]
        if pod_name is not None and not segments:
            return {"logs": [], "prev_key": None, "next_key": None}  # an unknown pod, or one that wrote nothing
        scope = pod_name if pod_name is not None else record.id
        return log_page_json(logs.read_page(segments, scope, query.get("next_key"), size), state)

    return [
        Route("/api/jobs", api(list_jobs), methods=["GET"]),
        Route("/api/jobs", api(create_job, 201, body_required=True), methods=["POST"]),
        Route("/api/jobs/{id}", api(get_job), methods=["GET"]),
        Route("/api/jobs/{id}", api(update_job, body_required=True), methods=["PATCH"]),
        Route("/api/jobs/{id}", api(delete_job), methods=["DELETE"]),
        Route("/api/jobs/{id}/start", api(start_job), methods=["POST"]),
        Route("/api/jobs/{id}/stop", api(stop_job), methods=["POST"]),
        Route("/api/jobs/{id}/stop/{run}", api(stop_run), methods=["POST"]),
        Route("/api/jobs/{id}/runtimesummary", api(runtime_summaries), methods=["GET"]),
        Route("/api/jobs/{id}/history", api(pod_history), methods=["GET"]),
        Route("/api/jobs/{id}/logs", api(job_logs), methods=["GET"]),
    ]
