"""What every Saturn operator shares: the hook, and waiting (synchronously or deferred) for a status."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.compat import BaseOperator, default_deferrable
from airflow_provider_saturn.get_provider_info import DEFAULT_CONN_ID
from airflow_provider_saturn.lazy_hook import SaturnHookMixin
from airflow_provider_saturn.links import SaturnResourceLink, push_resource_xcoms
from airflow_provider_saturn.waiting import KIND_LABELS, check_event, check_resource, seconds, wait_for_status

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context


class SaturnBaseOperator(SaturnHookMixin, BaseOperator):
    """Base of the Saturn operators: the connection, the hook, the extra link and the XCom pushes.

    :param saturn_conn_id: the Airflow connection of type ``saturn`` (inside Saturn, the environment).
    """

    operator_extra_links: tuple[SaturnResourceLink, ...] = (SaturnResourceLink(),)
    ui_color = "#f5e6ff"

    def __init__(self, *, saturn_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.saturn_conn_id = saturn_conn_id

    def push_project(self, context: Context, project: dict[str, Any]) -> None:
        """XCom the project's ids and Saturn UI URL (before any wait)."""
        push_resource_xcoms(context, saturn_url=self.hook.get_conn().url, project=project)


class SaturnWaitingOperator(SaturnBaseOperator):
    """A Saturn operator that asks for a status change and waits for it, or defers the wait.

    :param wait_for_completion: wait until the resource reaches its target status (default True).
    :param timeout: the longest wait, in seconds or as a ``timedelta`` (default 30 minutes).
    :param poll_interval: seconds between status reads (default 10, as Saturn asks).
    :param deferrable: hand the wait to the triggerer (default ``[operators] default_deferrable``).
    """

    resource_kind = ""  # "jupyter_server" or "dask_cluster"
    target_status = ""  # "running" or "stopped"

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        timeout: float | timedelta = timedelta(minutes=30),
        poll_interval: float = 10.0,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if seconds(timeout) <= 0 or poll_interval <= 0:
            raise ValueError("timeout and poll_interval must be positive")
        self.wait_for_completion = wait_for_completion
        self.timeout = seconds(timeout)
        self.poll_interval = float(poll_interval)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._waiting_on: tuple[str, str] | None = None

    def start_and_wait(
        self, resource_id: str, current: dict[str, Any], start: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Start unless already ``pending``/``running``, then wait (or defer) for ``running``."""
        label = f"{KIND_LABELS[self.resource_kind]} {resource_id}"
        started_here = current["status"] not in ("pending", "running")
        if started_here:
            current = start()
            self.log.info("Asked Saturn to start %s", label)
        else:
            self.log.info("%s is already %s", label, current["status"])
        return self.wait_or_defer(resource_id, current, started_here=started_here)

    def stop_and_wait(
        self, resource_id: str, current: dict[str, Any], stop: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Stop unless already stopped (succeed at once) or stopping, then wait (or defer) for ``stopped``."""
        label = f"{KIND_LABELS[self.resource_kind]} {resource_id}"
        if current["status"] == "stopped":
            self.log.info("%s is already stopped", label)
            return current
        if current["status"] != "stopping":
            current = stop()
            self.log.info("Asked Saturn to stop %s", label)
        return self.wait_or_defer(resource_id, current)

    def wait_or_defer(self, resource_id: str, current: dict[str, Any], *, started_here: bool = False) -> dict[str, Any]:
        """Return the resource once at this operator's target status: at once if there, else wait or defer."""
        kind, target = self.resource_kind, self.target_status
        if not self.wait_for_completion or check_resource(current, kind, target, strict=True):
            return current
        if self.deferrable:
            from airflow_provider_saturn.triggers.status import SaturnStatusTrigger

            self.log.info("Deferring the wait for Saturn %s %s to be %s", KIND_LABELS[kind], resource_id, target)
            self.defer(
                trigger=SaturnStatusTrigger(
                    resource_kind=kind,
                    resource_id=resource_id,
                    target_status=target,
                    deadline=time.time() + self.timeout,
                    saturn_conn_id=self.saturn_conn_id,
                    poll_interval=self.poll_interval,
                    strict=True,
                    stop_on_kill=started_here,
                ),
                method_name="execute_complete",
                kwargs={"kind": kind, "target": target, "resource_id": resource_id},
            )
        self._waiting_on = (kind, resource_id) if started_here else None
        try:
            return wait_for_status(
                lambda: self.hook.get_resource(kind, resource_id),
                kind=kind,
                resource_id=resource_id,
                target=target,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                log=self.log,
            )
        finally:
            self._waiting_on = None

    def expected_resource_id(self) -> str:
        """The id this operator waits on, worked out again after a deferral."""
        raise NotImplementedError

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **wait: Any) -> dict[str, Any]:
        """Resume after the trigger: refuse an event that is not ours, fail on error or timeout, else return
        the resource as it is now.

        ``wait`` holds what was deferred (``kind``, ``target``, ``resource_id``); where a runner drops it
        (``dag.test()`` on Airflow 3 does), the operator works it out again.
        """
        kind = wait.get("kind") or self.resource_kind
        target = wait.get("target") or self.target_status
        resource_id = wait.get("resource_id") or self.expected_resource_id()
        accepted = check_event(event, resource_id=resource_id, target=target)
        self.log.info("%s", accepted["message"])
        return self.hook.get_resource(kind, resource_id)

    def on_kill(self) -> None:
        """A start killed while waiting stops what it started: best effort, logged, never raises."""
        if self._waiting_on is None:
            return
        kind, resource_id = self._waiting_on
        try:
            self.hook.stop_resource(kind, resource_id)
            self.log.info("Stopped Saturn %s %s, started by this killed task", KIND_LABELS[kind], resource_id)
        except Exception as error:
            self.log.warning("Could not stop Saturn %s %s: %s", KIND_LABELS[kind], resource_id, error)
