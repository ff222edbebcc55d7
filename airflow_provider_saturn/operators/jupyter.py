"""Start and stop a project's Jupyter server (a generation-2 workspace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.operators.base import SaturnWaitingOperator

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

KIND = "jupyter_server"


class SaturnStartJupyterOperator(SaturnWaitingOperator):
    """Start a Jupyter server and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails the task at once with Saturn's
    message. Killed while waiting, it stops the server it started.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    :param debug_mode: start the server in Saturn's debug mode.
    """

    template_fields: Sequence[str] = ("jupyter_server_id", "saturn_conn_id")
    resource_kind = KIND
    target_status = "running"

    def __init__(self, *, jupyter_server_id: str, debug_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jupyter_server_id = jupyter_server_id
        self.debug_mode = debug_mode

    def expected_resource_id(self) -> str:
        return self.jupyter_server_id

    def execute(self, context: Context) -> dict[str, Any]:
        server = self.hook.get_jupyter_server(self.jupyter_server_id)
        self.push_project(context, server)
        started_here = server["status"] not in ("pending", "running")
        if started_here:
            server = self.hook.start_jupyter_server(self.jupyter_server_id, debug_mode=self.debug_mode)
            self.log.info("Asked Saturn to start Jupyter server %s", self.jupyter_server_id)
        else:
            self.log.info("Jupyter server %s is already %s", self.jupyter_server_id, server["status"])
        return self.wait_or_defer(self.jupyter_server_id, server, started_here=started_here)


class SaturnStopJupyterOperator(SaturnWaitingOperator):
    """Stop a Jupyter server (Saturn stops its Dask cluster too) and, by default, wait until ``stopped``.

    Already stopped: succeeds at once.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    """

    template_fields: Sequence[str] = ("jupyter_server_id", "saturn_conn_id")
    resource_kind = KIND
    target_status = "stopped"

    def __init__(self, *, jupyter_server_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jupyter_server_id = jupyter_server_id

    def expected_resource_id(self) -> str:
        return self.jupyter_server_id

    def execute(self, context: Context) -> dict[str, Any]:
        server = self.hook.get_jupyter_server(self.jupyter_server_id)
        self.push_project(context, server)
        if server["status"] == "stopped":
            self.log.info("Jupyter server %s is already stopped", self.jupyter_server_id)
            return server
        if server["status"] != "stopping":
            server = self.hook.stop_jupyter_server(self.jupyter_server_id)
            self.log.info("Asked Saturn to stop Jupyter server %s", self.jupyter_server_id)
        return self.wait_or_defer(self.jupyter_server_id, server)
