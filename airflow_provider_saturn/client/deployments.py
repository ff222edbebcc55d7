"""Saturn Deployments through the synchronous client: long-running services (dashboards, model APIs) to
start before a pipeline and stop after it."""

from __future__ import annotations

from typing import Any

from airflow_provider_saturn.client import wire
from airflow_provider_saturn.client.paths import Paths
from airflow_provider_saturn.client.sync_transport import SyncTransport


class DeploymentOperations(SyncTransport):
    """Saturn Deployments: list, read, find by name, start and stop."""

    def list_deployments(self) -> list[dict[str, Any]]:
        """Every deployment the token can see, across all pages."""
        return [wire.deployment_from_response(item) for item in self._pages(Paths.DEPLOYMENTS, "deployments")]

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """One deployment by id: ``id``, ``status``, ``url`` and the rest."""
        return self.get_resource("deployment", deployment_id)

    def find_deployment_by_name(self, name: str) -> dict[str, Any] | None:
        """The deployment named exactly ``name``, or ``None``."""
        return self._find_by_name(Paths.DEPLOYMENTS, "deployments", name, wire.deployment_from_response)

    def start_deployment(self, deployment_id: str, debug_mode: bool = False) -> dict[str, Any]:
        """Ask Saturn to start a deployment; returns at once (status ``pending``)."""
        body = {"debug_mode": True} if debug_mode else None
        return self._resource_call("deployment", "POST", deployment_id, "start", body)

    def stop_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Ask Saturn to stop a deployment; returns at once (status ``stopping``)."""
        return self.stop_resource("deployment", deployment_id)
