"""Start and stop a Saturn Deployment (a long-running service: a dashboard, a model API) around a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.links import XCOM_DEPLOYMENT_ID, push_link_xcoms, saturn_ui_url
from airflow_provider_saturn.operators.base import SaturnWaitingOperator
from airflow_provider_saturn.waiting import required_id

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context


class _SaturnDeploymentOperator(SaturnWaitingOperator):
    """Names a deployment by ``deployment_id`` or by ``deployment_name``. Both templated."""

    template_fields: Sequence[str] = ("deployment_id", "deployment_name", "saturn_conn_id")
    resource_kind = "deployment"
    id_argument = "deployment_id"

    def __init__(self, *, deployment_id: str | None = None, deployment_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (deployment_id is None) == (deployment_name is None):
            raise ValueError(f"{type(self).__name__} takes exactly one of deployment_id and deployment_name")
        self.deployment_id = deployment_id
        self.deployment_name = deployment_name

    def expected_resource_id(self) -> str:
        return str(self.current_deployment(None)["id"])

    def current_deployment(self, context: Context | None) -> dict[str, Any]:
        """The deployment as it is now (named by id, checked first, or by name); with a context, its id and
        Saturn UI URL are pushed to XCom before any wait."""
        if self.deployment_name is None:
            deployment = self.hook.get_deployment(self.checked_id())
        else:
            name = required_id(self.deployment_name, "deployment_name", f"{type(self).__name__} {self.task_id!r}")
            found = self.hook.find_deployment_by_name(name)
            if found is None:
                raise ValueError(f"Saturn has no deployment named {name!r}")
            deployment = found
        if context is not None:
            ui_url = saturn_ui_url(self.hook.get_conn().url, deployment["id"], "deployment")
            push_link_xcoms(context, ui_url, {XCOM_DEPLOYMENT_ID: deployment["id"]})
        return deployment


class SaturnStartDeploymentOperator(_SaturnDeploymentOperator):
    """Start a Saturn Deployment and, by default, wait until it is ``running``.

    Already ``pending`` or ``running``: it just waits. ``error`` fails the task at once with Saturn's message.
    Killed while waiting, or failed or timed out after it started the deployment, it stops what it started
    (``stop_on_failure=False`` keeps it after a failure).

    :param deployment_id: the deployment's id. Templated.
    :param deployment_name: or its name. Templated.
    :param debug_mode: start it in Saturn's debug mode.
    :return: the deployment (``id``, ``status``, ``url``...), secrets as ``"***"``. Pushed before any wait:
        XComs ``deployment_id`` and ``saturn_url``.
    """

    target_status = "running"

    def __init__(self, *, debug_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.debug_mode = debug_mode

    def execute(self, context: Context) -> dict[str, Any]:
        deployment = self.current_deployment(context)
        start = partial(self.hook.start_deployment, deployment["id"], debug_mode=self.debug_mode)
        return self.start_and_wait(context, deployment["id"], deployment, start)


class SaturnStopDeploymentOperator(_SaturnDeploymentOperator):
    """Stop a Saturn Deployment and, by default, wait until it is ``stopped``. Already stopped: succeeds at once.

    A clean-up task (``trigger_rule`` not ``all_success``) given no id skips.

    :param deployment_id: the deployment's id. Templated.
    :param deployment_name: or its name. Templated.
    """

    target_status = "stopped"
    skips_without_id = True

    def execute(self, context: Context) -> dict[str, Any]:
        deployment = self.current_deployment(context)
        return self.stop_and_wait(deployment["id"], deployment, partial(self.hook.stop_deployment, deployment["id"]))
