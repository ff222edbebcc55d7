"""``@task.saturn_dask``: a TaskFlow function that computes on a Saturn Dask cluster through a connected client.

The function runs in the Airflow worker, as a ``@task`` does, and is given ``dask_client``: a
``distributed.Client`` connected to the project's Saturn Dask cluster over mutual TLS
(:meth:`~airflow_provider_saturn.hooks.saturn.SaturnHook.get_dask_client`), closed when the function returns or
raises. ``start=True`` first starts the cluster and waits until it runs, through
:class:`~airflow_provider_saturn.operators.dask.SaturnStartDaskClusterOperator`'s own start (its crash-safe
record, its timeout, its stop of a cluster whose start this task began and that failed), as a sync wait: a
running function cannot defer. Needs the ``dask`` extra on the worker.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.dask_access import DEFAULT_CONNECT_TIMEOUT, checked_connect_timeout
from airflow_provider_saturn.lazy_hook import SaturnHookMixin
from airflow_provider_saturn.operators.base import checked_durable
from airflow_provider_saturn.waiting import positive_seconds, required_id

try:  # Airflow 3: the Task SDK and the standard provider
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
except ImportError:  # Airflow 2.11
    from airflow.decorators.base import DecoratedOperator, task_decorator_factory  # type: ignore[no-redef]
    from airflow.operators.python import PythonOperator  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context
    from airflow_provider_saturn.operators.dask import SaturnStartDaskClusterOperator

CLIENT_ARGUMENT = "dask_client"


def _client_argument_filled(python_callable: Callable[..., Any]) -> int | None:
    """Let Airflow's check of the call's arguments pass without ``dask_client`` (it is given when the function
    runs), as ``@task.pyspark`` does for ``spark``; refuse a function that cannot take it by keyword. Returns
    the client's position among the positional parameters (``None``: keyword-only, or taken by ``**kwargs``)."""
    signature = inspect.signature(python_callable)
    parameters = list(signature.parameters.values())
    names = [parameter.name for parameter in parameters]
    if CLIENT_ARGUMENT not in names:
        if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
            return None
        raise TypeError(
            f"A @task.saturn_dask function is given the connected client as {CLIENT_ARGUMENT}=: add a "
            f"{CLIENT_ARGUMENT} parameter to {getattr(python_callable, '__name__', 'the function')}"
        )
    index = names.index(CLIENT_ARGUMENT)
    client = parameters[index]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if client.kind is inspect.Parameter.POSITIONAL_ONLY or (
        client.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        and any(parameter.kind in positional for parameter in parameters[index + 1 :])
    ):
        raise TypeError(
            f"{CLIENT_ARGUMENT} must be the last positional parameter of a @task.saturn_dask function, or "
            f"keyword-only (def {getattr(python_callable, '__name__', 'f')}(x, *, {CLIENT_ARGUMENT})): it is given "
            "by keyword when the function runs"
        )
    parameters[index] = client.replace(default=None)
    python_callable.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return index if client.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else None


def _checked_connect_timeout(value: Any) -> float:
    """``connect_timeout`` as the client will take it, refused when the DAG is parsed (not after a start)."""
    from airflow_provider_saturn.client.errors import SaturnInvalidOptionError

    try:
        return checked_connect_timeout(positive_seconds("connect_timeout", value))
    except SaturnInvalidOptionError as error:
        raise ValueError(f"connect_timeout: {error}") from None


class _SaturnDaskDecoratedOperator(SaturnHookMixin, DecoratedOperator, PythonOperator):
    """Runs the decorated function in the worker with ``dask_client``, a client of a Saturn Dask cluster.

    :param project_id: the project whose Dask cluster to compute on. Templated (an ``XComArg`` too).
    :param dask_cluster_id: or the cluster's id. Templated.
    :param start: start the cluster first when it is not ``pending``/``running``, and wait until it runs
        (default False: a cluster that is not running fails the task at once, saying how to start it).
    :param stop_on_failure: with ``start``, a start this task began that fails or times out stops the cluster
        (default True). The cluster is never stopped after the function ends: stop it with
        ``SaturnStopDaskClusterOperator`` (or let Saturn's auto-shutoff or ``SaturnStopIdleResourcesOperator``).
    :param timeout: the longest wait for the cluster to start, in seconds or a ``timedelta`` (default 30 min).
    :param poll_interval: seconds between status reads while it starts (default 10).
    :param connect_timeout: seconds the scheduler has to answer the client (default 30).
    :param saturn_conn_id: the Saturn connection (default ``saturn_default``; inside Saturn, without one, the
        environment's credentials).
    :param durable: with ``start``, whether a retry after a crash treats the start an earlier try began as its
        own (Airflow's standard switch, see ``SaturnStartDaskClusterOperator``; default True).
    """

    template_fields: Sequence[str] = (
        "templates_dict",
        "op_args",
        "op_kwargs",
        "project_id",
        "dask_cluster_id",
        "saturn_conn_id",
    )
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    custom_operator_name = "@task.saturn_dask"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        project_id: str | None = None,
        dask_cluster_id: str | None = None,
        start: bool = False,
        stop_on_failure: bool = True,
        timeout: float | timedelta = timedelta(minutes=30),
        poll_interval: float = 10.0,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        saturn_conn_id: str = "saturn_default",
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        if (project_id is None) == (dask_cluster_id is None):
            raise ValueError("@task.saturn_dask takes exactly one of project_id and dask_cluster_id")
        position = _client_argument_filled(python_callable)
        if (op_kwargs and CLIENT_ARGUMENT in op_kwargs) or (position is not None and len(op_args or ()) > position):
            raise TypeError(f"{CLIENT_ARGUMENT} is given by @task.saturn_dask when the function runs; do not pass it")
        self.project_id = project_id
        self.dask_cluster_id = dask_cluster_id
        self.start = start
        self.stop_on_failure = stop_on_failure
        self.timeout = positive_seconds("timeout", timeout)
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.connect_timeout = _checked_connect_timeout(connect_timeout)
        self.saturn_conn_id = saturn_conn_id
        self.durable = checked_durable(durable)
        self._starter: SaturnStartDaskClusterOperator | None = None
        self._cluster: dict[str, str] | None = None
        super().__init__(
            kwargs_to_upstream={"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs},
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        self._cluster = self._cluster_to_use(context)
        return super().execute(context)

    def _cluster_to_use(self, context: Context) -> dict[str, str]:
        """Which cluster to connect to, as ``get_dask_client`` takes it (``dask_cluster_id``, or ``project_id``,
        whose cluster the client looks up); started and running first when ``start`` asks for it."""
        argument = "dask_cluster_id" if self.dask_cluster_id is not None else "project_id"
        given = required_id(getattr(self, argument), argument, self.task_id)
        if not self.start:
            return {argument: given}
        from airflow_provider_saturn.operators.dask import SaturnStartDaskClusterOperator

        self._starter = SaturnStartDaskClusterOperator(
            task_id=f"{self.task_id}__start_dask_cluster",
            saturn_conn_id=self.saturn_conn_id,
            deferrable=False,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            stop_on_failure=self.stop_on_failure,
            durable=self.durable,
            execution_timeout=self.execution_timeout,
            **{argument: given},
        )
        self._starter._try_started_at = getattr(self, "_try_started_at", None) or time.time()
        cluster = self._starter.execute(context)
        return {"dask_cluster_id": str(cluster["id"])}

    def pre_execute(self, context: Any) -> None:
        self._try_started_at = time.time()
        super().pre_execute(context)

    def execute_callable(self) -> Any:
        """The function, given a client connected to the cluster; the client is closed whatever happens."""
        if self._cluster is None:
            raise RuntimeError("execute_callable runs inside execute, after the cluster is known")
        client = self.hook.get_dask_client(**self._cluster, timeout=self.connect_timeout)
        self.log.info(
            "Connected to the Saturn Dask cluster of %s (scheduler %s)", self._cluster, client.scheduler.address
        )
        given = dict(self.op_kwargs)
        try:
            self.op_kwargs = {**given, CLIENT_ARGUMENT: client}
            return super().execute_callable()
        finally:
            self.op_kwargs = given
            client.close()

    def on_kill(self) -> None:
        """Killed while the cluster starts: the start's own ``on_kill`` stops what this task started."""
        if self._starter is not None:
            self._starter.on_kill()
        super().on_kill()


def saturn_dask_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    """``@task.saturn_dask``: run the decorated function in the worker with ``dask_client``, a
    ``distributed.Client`` on a Saturn Dask cluster (``project_id=`` or ``dask_cluster_id=``); its return value
    becomes the task's XCom. Takes :class:`_SaturnDaskDecoratedOperator`'s arguments and ``multiple_outputs``."""
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_SaturnDaskDecoratedOperator,
        **kwargs,
    )
