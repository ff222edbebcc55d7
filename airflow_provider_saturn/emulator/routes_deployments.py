"""The deployments endpoints: create, list, read, update, delete, start and stop."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_saturn.emulator.handlers import Api, flag, page
from airflow_provider_saturn.emulator.render_workloads import deployment_json
from airflow_provider_saturn.emulator.state import SaturnState
from airflow_provider_saturn.emulator.workload_validation import (
    parse_deployment_create,
    parse_deployment_update,
    parse_start,
)


def deployment_routes(state: SaturnState, api: Api) -> list[Route]:
    deployments = state.deployments

    def list_deployments(request: Request, body: dict[str, Any]) -> Any:
        query = request.query_params
        items = deployments.listing()
        if query.get("name"):
            items = [record for record in items if query["name"] in record.name]
        return page(query, items, "deployments", deployment_json)

    def create_deployment(request: Request, body: dict[str, Any]) -> Any:
        name, settings = parse_deployment_create(body)
        return deployment_json(deployments.create(name, settings))

    def get_deployment(request: Request, body: dict[str, Any]) -> Any:
        return deployment_json(deployments.get(request.path_params["id"]))

    def update_deployment(request: Request, body: dict[str, Any]) -> Any:
        changes = parse_deployment_update(body)
        return deployment_json(deployments.update(request.path_params["id"], changes))

    def delete_deployment(request: Request, body: dict[str, Any]) -> Any:
        deployments.delete(request.path_params["id"], flag(request.query_params, "allow_active"))
        return None

    def start_deployment(request: Request, body: dict[str, Any]) -> Any:
        debug_mode = parse_start(body)
        return deployment_json(deployments.start(request.path_params["id"], debug_mode))

    def stop_deployment(request: Request, body: dict[str, Any]) -> Any:
        return deployment_json(deployments.stop(request.path_params["id"]))

    return [
        Route("/api/deployments", api(list_deployments), methods=["GET"]),
        Route("/api/deployments", api(create_deployment, 201, body_required=True), methods=["POST"]),
        Route("/api/deployments/{id}", api(get_deployment), methods=["GET"]),
        Route("/api/deployments/{id}", api(update_deployment, body_required=True), methods=["PATCH"]),
        Route("/api/deployments/{id}", api(delete_deployment), methods=["DELETE"]),
        Route("/api/deployments/{id}/start", api(start_deployment), methods=["POST"]),
        Route("/api/deployments/{id}/stop", api(stop_deployment), methods=["POST"]),
    ]
