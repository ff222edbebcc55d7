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
    id_argument = "jupyter_server_id"

    def __init__(self, *, jupyter_server_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jupyter_server_id = jupyter_server_id

    def expected_resource_id(self) -> str:
        return self.jupyter_server_id

    def current_server(self, context: Context) -> dict[str, Any]:
        """The server as it is now (its id checked first); its ids and Saturn UI URL are pushed to XCom before
        any wait."""
        server = self.hook.get_jupyter_server(self.checked_id())
        self.push_project(context, server)
        return server


class SaturnStartJupyterOperator(_SaturnJupyterOperator):
    """Start a Jupyter server and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails the task at once with Saturn's
    message. Killed while waiting, or failed or timed out after it started the server, it stops the server
    it started (``stop_on_failure=False`` keeps it after a failure). No id fails at once.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    :param debug_mode: start the server in Saturn's debug mode.
    :return: the server dict, with the values of ``environment_variables`` and ``start_script`` as ``"***"``.
    """

    target_status = "running"

    def __init__(self, *, debug_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.debug_mode = debug_mode

    def execute(self, context: Context) -> dict[str, Any]:
        server = self.current_server(context)
        start = partial(self.hook.start_jupyter_server, server["id"], debug_mode=self.debug_mode)
        return self.start_and_wait(context, server["id"], server, start)


class SaturnStopJupyterOperator(_SaturnJupyterOperator):
    """Stop a Jupyter server (Saturn stops its Dask cluster too) and, by default, wait until ``stopped``.

    Already stopped: succeeds at once. No id (the create upstream failed): a clean-up task
    (``trigger_rule="all_done"``) skips; with ``all_success`` the task fails at once.

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    :return: the server dict, with the values of ``environment_variables`` and ``start_script`` as ``"***"``.
    """

    target_status = "stopped"
    skips_without_id = True

    def execute(self, context: Context) -> dict[str, Any]:
        server = self.current_server(context)
        return self.stop_and_wait(server["id"], server, partial(self.hook.stop_jupyter_server, server["id"]))
