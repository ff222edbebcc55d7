"""Start and stop a project's Jupyter server (a generation-2 workspace)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.operators.base import SaturnWaitingOperator

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context


class _SaturnJupyterOperator(SaturnWaitingOperator):
    """Names a Jupyter server by ``jupyter_server_id`` (in Saturn today, the project id). Templated."""

    template_fields: Sequence[str] = ("jupyter_server_id", "saturn_conn_id")
    resource_kind = "jupyter_server"

    def __init__(self, *, jupyter_server_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jupyter_server_id = jupyter_server_id

    def expected_resource_id(self) -> str:
        return self.jupyter_server_id

    def current_server(self, context: Context) -> dict[str, Any]:
        """The server as it is now; its ids and Saturn UI URL are pushed to XCom before any wait."""
        server = self.hook.get_jupyter_server(self.jupyter_server_id)
        self.push_project(context, server)
        return server


class SaturnStartJupyterOperator(_SaturnJupyterOperator):
    """Start a Jupyter server and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails the task at once with Saturn's
    message. Killed while waiting, it stops the server it started.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    :param debug_mode: start the server in Saturn's debug mode.
    """

    target_status = "running"

    def __init__(self, *, debug_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.debug_mode = debug_mode

    def execute(self, context: Context) -> dict[str, Any]:
        start = partial(self.hook.start_jupyter_server, self.jupyter_server_id, debug_mode=self.debug_mode)
        return self.start_and_wait(self.jupyter_server_id, self.current_server(context), start)


class SaturnStopJupyterOperator(_SaturnJupyterOperator):
    """Stop a Jupyter server (Saturn stops its Dask cluster too) and, by default, wait until ``stopped``.

    Already stopped: succeeds at once.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    """

    target_status = "stopped"

    def execute(self, context: Context) -> dict[str, Any]:
        stop = partial(self.hook.stop_jupyter_server, self.jupyter_server_id)
        return self.stop_and_wait(self.jupyter_server_id, self.current_server(context), stop)
