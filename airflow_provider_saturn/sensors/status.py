"""Sensors that wait for a Saturn resource (Jupyter server, Dask cluster, deployment, job run) to reach a
status: poke, reschedule or deferred."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.statuses import StatusWatch, targets_of
from airflow_provider_saturn.compat import BaseSensorOperator, default_deferrable
from airflow_provider_saturn.get_provider_info import DEFAULT_CONN_ID
from airflow_provider_saturn.lazy_hook import SaturnHookMixin
from airflow_provider_saturn.waiting import KIND_LABELS, check_event, check_resource, positive_seconds, required_id

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context


class _SaturnStatusSensor(SaturnHookMixin, BaseSensorOperator):
    """Pokes a resource's status until it is ``target_status``; ``error`` fails at once unless it is the target.

    The id is checked before any request: none (``None``, or ``"None"``/``""`` from a template pulling a
    missing XCom) fails at once, naming the argument.

    :param target_status: ``"running"`` (default), ``"stopped"`` or ``"error"``. Templated.
    :param saturn_conn_id: the Airflow connection of type ``saturn``.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); the sensor's
        ``timeout`` becomes the trigger's deadline and ``poke_interval`` its poll interval.
    :param poke_interval: seconds (or a ``timedelta``) between status reads, default 10; must be positive.
    :param timeout: the longest wait (Airflow's sensor ``timeout``); must be positive.
    """

    kind = ""
    id_field = ""
    template_fields: Sequence[str] = ("target_status", "saturn_conn_id")

    def __init__(
        self,
        *,
        target_status: str = "running",
        saturn_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        poke_interval: float | timedelta = 10.0,
        **kwargs: Any,
    ) -> None:
        # Before Airflow's own checks, which let 0 through (and differ between Airflow lines for negatives).
        positive_seconds("poke_interval", poke_interval)
        timeout = kwargs.get("timeout", (kwargs.get("default_args") or {}).get("timeout"))
        if timeout is not None:
            positive_seconds("timeout", timeout)
        super().__init__(poke_interval=poke_interval, **kwargs)
        positive_seconds("timeout", self.timeout)  # also [sensors] default_timeout
        if target_status not in targets_of(self.kind):
            raise ValueError(f"target_status must be one of {list(targets_of(self.kind))}, not {target_status!r}")
        self.target_status = target_status
        self.saturn_conn_id = saturn_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._watch: StatusWatch | None = None

    @property
    def resource_id(self) -> str:
        """The rendered id; no id raises a ``ValueError`` naming the argument."""
        return required_id(getattr(self, self.id_field), self.id_field, f"{type(self).__name__} {self.task_id!r}")

    def poke(self, context: Context) -> bool:
        resource_id = self.resource_id
        resource = self.hook.get_resource(self.kind, resource_id)
        self.log.info("Saturn %s %s is %s", KIND_LABELS[self.kind], resource_id, resource.get("status"))
        # One watch for the pokes of this try (mode "poke"), so that a status Saturn's API does not know fails
        # after the same grace as in a deferred wait; in mode "reschedule" each poke is a new instance.
        if self._watch is None:
            self._watch = StatusWatch(self.target_status, strict=False)
        return check_resource(resource, self.kind, self.target_status, strict=False, watch=self._watch)

    def execute(self, context: Context) -> Any:
        resource_id = self.resource_id  # no id: fail now, before any request or wait
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_provider_saturn.triggers.status import SaturnStatusTrigger

        self.defer(
            trigger=SaturnStatusTrigger(
                resource_kind=self.kind,
                resource_id=resource_id,
                target_status=self.target_status,
                deadline=time.time() + float(self.timeout),
                saturn_conn_id=self.saturn_conn_id,
                poll_interval=float(self.poke_interval),
                strict=False,
            ),
            method_name="execute_complete",
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger: refuse an event that is not ours; fail on error or timeout."""
        accepted = check_event(event, resource_id=self.resource_id, target=self.target_status)
        self.log.info("%s", accepted["message"])


class SaturnJupyterServerSensor(_SaturnStatusSensor):
    """Wait for a Jupyter server to reach ``target_status`` (default ``running``).

    :param jupyter_server_id: the Jupyter server id (in Saturn today, the project id). Templated.
    """

    kind = "jupyter_server"
    id_field = "jupyter_server_id"
    template_fields: Sequence[str] = ("jupyter_server_id", "target_status", "saturn_conn_id")

    def __init__(self, *, jupyter_server_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jupyter_server_id = jupyter_server_id


class SaturnDaskClusterSensor(_SaturnStatusSensor):
    """Wait for a Dask cluster to reach ``target_status`` (default ``running``).

    :param dask_cluster_id: the Dask cluster id. Templated.
    """

    kind = "dask_cluster"
    id_field = "dask_cluster_id"
    template_fields: Sequence[str] = ("dask_cluster_id", "target_status", "saturn_conn_id")

    def __init__(self, *, dask_cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dask_cluster_id = dask_cluster_id


class SaturnDeploymentSensor(_SaturnStatusSensor):
    """Wait for a deployment to reach ``target_status`` (default ``running``).

    :param deployment_id: the deployment's id. Templated.
    """

    kind = "deployment"
    id_field = "deployment_id"
    template_fields: Sequence[str] = ("deployment_id", "target_status", "saturn_conn_id")

    def __init__(self, *, deployment_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id


class SaturnJobRunSensor(_SaturnStatusSensor):
    """Wait for one run of a Saturn job to reach ``target_status`` (default ``completed``, its success).

    A run that ends ``stopped`` or ``error`` fails the sensor at once (it will never complete), unless that
    is the ``target_status``.

    :param job_id: the job's id. Templated.
    :param run_name: the run's name (e.g. ``{{ ti.xcom_pull(task_ids='run', key='run_name') }}``). Templated.
    :param target_status: ``"completed"`` (default), ``"running"``, ``"stopped"`` or ``"error"``.
    """

    kind = "job_run"
    id_field = "job_id"
    template_fields: Sequence[str] = ("job_id", "run_name", "target_status", "saturn_conn_id")

    def __init__(self, *, job_id: str, run_name: str, target_status: str = "completed", **kwargs: Any) -> None:
        super().__init__(target_status=target_status, **kwargs)
        self.job_id = job_id
        self.run_name = run_name

    @property
    def resource_id(self) -> str:
        """The run's key, ``"<job id>/<run name>"``; no job id or run name fails at once, naming it."""
        from airflow_provider_saturn.client.job_runs import job_run_key

        task = f"{type(self).__name__} {self.task_id!r}"
        return job_run_key(required_id(self.job_id, "job_id", task), required_id(self.run_name, "run_name", task))
