"""What every Saturn operator shares: the hook, and waiting (synchronously or deferred) for a status."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_saturn.client.statuses import ACTIVE_STATUSES
from airflow_provider_saturn.compat import BaseOperator, default_deferrable
from airflow_provider_saturn.get_provider_info import DEFAULT_CONN_ID
from airflow_provider_saturn.lazy_hook import SaturnHookMixin
from airflow_provider_saturn.lineage import resumed_ids
from airflow_provider_saturn.links import SaturnResourceLink, push_resource_xcoms
from airflow_provider_saturn.reattach import forget_started, remember_started, started_by_earlier_try
from airflow_provider_saturn.run_logs import FINAL_LOG_READS, LOG_LEFT_IN_SATURN, RunLog, has_log
from airflow_provider_saturn.waiting import (
    KIND_LABELS,
    check_event,
    check_resource,
    missing_id,
    positive_seconds,
    required_id,
    wait_for_status,
)
from airflow_provider_saturn.xcom_values import xcom_safe

try:  # Airflow 3: the Task SDK
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow_provider_saturn.compat import Context

# How long before ``execution_timeout`` a wait gives up (beyond one poll interval), so that the task can
# still stop what it started: Airflow ends a deferred task at its execution_timeout without calling on_kill.
EXECUTION_TIMEOUT_MARGIN = 5.0

# Kinds whose failure statuses are ends: a job run in ``error`` or ``stopped`` has nothing left to stop.
FAILURE_ENDS_IT = frozenset({"job_run"})

# The methods whose return value Airflow stores as the task's XCom ``return_value``.
RETURNING_METHODS = ("execute", "execute_complete")


def returns_users_value(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a returning method whose value is the user's own (``@task.saturn``'s function's), not Saturn's
    answer: it is returned as it is, not made XCom-safe."""
    method.__saturn_xcom_safe__ = True  # type: ignore[attr-defined]
    return method


def _returning_xcom_safe(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def returning(self: Any, *args: Any, **kwargs: Any) -> Any:
        return xcom_safe(method(self, *args, **kwargs))

    returning.__saturn_xcom_safe__ = True  # type: ignore[attr-defined]
    return returning


def checked_durable(value: Any) -> bool:
    """``durable`` as given, refused when it is not a bool (a template or a string would always be true)."""
    if not isinstance(value, bool):
        raise TypeError(f"durable must be True or False, not {value!r}")
    return value


class SaturnBaseOperator(SaturnHookMixin, BaseOperator):
    """Base of the Saturn operators: the connection, the hook, the extra link and the XCom pushes.

    What any Saturn operator returns (from ``execute`` or ``execute_complete``) becomes an XCom, stored in
    plain text: it goes through :func:`~airflow_provider_saturn.xcom_values.xcom_safe` first, so the values of
    ``environment_variables`` read ``"***"`` (their names stay), and so do ``start_script`` and ``command``,
    config file contents, package and build texts, secret values and credentials in URLs, nested dicts
    included (the field list is in :mod:`~airflow_provider_saturn.xcom_values`). Use the hook for Saturn's full
    answers.

    :param saturn_conn_id: the Airflow connection of type ``saturn`` (inside Saturn, the environment).
    :param durable: Airflow's standard switch of crash re-attachment (as ``ResumableJobMixin``'s), for the
        operators that re-attach a retry to what an earlier try started or created (the start and create
        operators, ``SaturnRunJobOperator``, ``@task.saturn``; see :mod:`~airflow_provider_saturn.reattach`):
        ``True`` (default) records it (Airflow 3.3+: task state store) and follows it; ``False`` makes every try
        start afresh, records nothing and takes nothing it finds in Saturn as an earlier try's. The other
        operators have nothing to re-attach.
    """

    operator_extra_links: tuple[SaturnResourceLink, ...] = (SaturnResourceLink(),)
    ui_color = "#f5e6ff"
    # The argument that names the resource acted on (checked by ``checked_id``), and whether the task is a
    # clean-up that skips when it has none (stops and deletes) instead of failing.
    id_argument = ""
    skips_without_id = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every return value of every Saturn operator, present and future, is made XCom-safe here."""
        super().__init_subclass__(**kwargs)
        for name in RETURNING_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__saturn_xcom_safe__", False):
                setattr(cls, name, _returning_xcom_safe(method))

    def __init__(self, *, saturn_conn_id: str = DEFAULT_CONN_ID, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.saturn_conn_id = saturn_conn_id
        self.durable = checked_durable(durable)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed and enabled): a run facet naming the Saturn resource this
        try acted on (kind, id, run name, project, UI URL; see :mod:`~airflow_provider_saturn.lineage`)."""
        from airflow_provider_saturn.lineage import saturn_lineage

        return saturn_lineage(self)

    def note_saturn_resource(self, ids: dict[str, Any], ui_url: str | None = None) -> None:
        """Remember what this try acted on (ids by XCom key, and its UI URL), for its OpenLineage facet."""
        noted = dict(getattr(self, "_saturn_resource", {}))
        noted.update({key: str(value) for key, value in ids.items() if isinstance(value, str) and value})
        if ui_url:
            noted["saturn_url"] = ui_url
        self._saturn_resource = noted

    def push_project(self, context: Context, project: dict[str, Any]) -> None:
        """XCom the project's ids and Saturn UI URL (before any wait)."""
        push_resource_xcoms(context, saturn_url=self.hook.get_conn().url, project=project)

    def checked_id(self) -> str:
        """The rendered id in ``id_argument``, checked before any request.

        No id (``None``, or ``"None"``/``""``, which is what a template pulling a missing XCom renders to)
        fails at once naming the argument. A clean-up task (a stop or delete whose ``trigger_rule`` is not
        ``all_success``, typically ``all_done`` after a create that failed) skips instead: there is nothing
        to clean up. With ``all_success`` its upstream succeeded, so a missing id is a bug and fails.
        """
        value = getattr(self, self.id_argument)
        if missing_id(value) and self.skips_without_id and not self._needs_upstream_success():
            message = (
                f"No {self.id_argument} (it is {value!r}): nothing to clean up, so this "
                f"{self.trigger_rule_name()} clean-up task is skipped. An upstream task that should give the id "
                "gave none (did it fail?)."
            )
            self.log.info("%s", message)
            raise AirflowSkipException(message)
        return required_id(value, self.id_argument, f"{type(self).__name__} {self.task_id!r}")

    def trigger_rule_name(self) -> str:
        """The task's trigger rule as a plain string (an enum on both Airflow lines)."""
        return str(getattr(self.trigger_rule, "value", self.trigger_rule))

    def _needs_upstream_success(self) -> bool:
        return self.trigger_rule_name() == "all_success"


class SaturnWaitingOperator(SaturnBaseOperator):
    """A Saturn operator that asks for a status change and waits for it, or defers the wait.

    :param wait_for_completion: wait until the resource reaches its target status (default True).
    :param timeout: the longest wait, in seconds or as a ``timedelta`` (default 30 minutes).
    :param poll_interval: seconds between status reads (default 10, as Saturn asks).
    :param deferrable: hand the wait to the triggerer (default ``[operators] default_deferrable``).
    :param stop_on_failure: a start that this task began and that then fails (the resource goes into
        ``error`` or is sent the other way) or times out stops what it started (default True), in sync and
        deferred waits alike; best effort and logged: the task fails with the original error. A resource
        already ``pending``/``running`` before the task began is never stopped by it.
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
        stop_on_failure: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.timeout = positive_seconds("timeout", timeout)
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.stop_on_failure = stop_on_failure
        self._waiting_on: tuple[str, str] | None = None

    def start_and_wait(
        self, context: Context, resource_id: str, current: dict[str, Any], start: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Start unless already ``pending``/``running``, then wait (or defer) for ``running``.

        What this task starts is recorded before the wait (Airflow 3.3+: task state store), so that a retry
        (its worker died) treats the resource it finds starting as its own: stopped on failure or kill.
        """
        kind = self.resource_kind
        label = f"{KIND_LABELS[kind]} {resource_id}"
        started_here = current["status"] not in ACTIVE_STATUSES
        if started_here:
            current = start()
            if self.durable:
                remember_started(context, kind, resource_id)
            self.log.info("Asked Saturn to start %s", label)
        elif self.durable and started_by_earlier_try(context, kind, resource_id):
            started_here = True
            self.log.info("%s is %s, started by an earlier try of this task", label, current["status"])
        else:
            self.log.info("%s is already %s", label, current["status"])
        result = self.wait_or_defer(resource_id, current, started_here=started_here)
        forget_started(context, kind, resource_id)  # it runs: a later start of it is not this task's
        return result

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

    def pre_execute(self, context: Any) -> None:
        """Note when this try began, for :meth:`wait_deadline`."""
        self._try_started_at = time.time()
        super().pre_execute(context)

    def wait_deadline(self) -> float:
        """When the wait ends (absolute UNIX time): ``timeout`` from now, but inside ``execution_timeout``.

        Airflow ends a deferred task whose ``execution_timeout`` passes without calling ``on_kill``, so the
        wait times out first, by a margin: the task then resumes, stops what it started (``stop_on_failure``),
        and fails with a message that says what was waited for.
        """
        now = time.time()
        deadline = now + self.timeout
        if self.execution_timeout is not None:
            started = getattr(self, "_try_started_at", None) or now
            margin = self.poll_interval + EXECUTION_TIMEOUT_MARGIN
            budget_end = started + self.execution_timeout.total_seconds() - margin
            if budget_end < deadline:
                self.log.info("The wait ends %.0fs from now, inside execution_timeout", max(budget_end - now, 0))
                deadline = max(budget_end, now)
        return deadline

    def new_run_log(self) -> RunLog:
        """Where a wait's reading of a followed log goes; ``@task.saturn`` gives one that takes its frames."""
        return RunLog()

    def trigger_log_options(self) -> dict[str, Any]:
        """More kwargs for the trigger that follows the log (``@task.saturn``: the frame marker)."""
        return {}

    def run_log_reader(self, resource_id: str) -> Callable[[RunLog], None] | None:
        """How a wait on ``resource_id`` reads the log it follows into a :class:`~.run_logs.RunLog`; ``None``
        (the default) when there is no log to follow. A job run's operator gives one."""
        return None

    def wait_or_defer(self, resource_id: str, current: dict[str, Any], *, started_here: bool = False) -> dict[str, Any]:
        """Return the resource once at this operator's target status: at once if there, else wait or defer.

        A followed log (see :meth:`run_log_reader`) is read at each poll, in the sync wait and in the trigger
        alike, and a failure shows its last lines. A start this task began (``started_here``) that fails, in
        Saturn's answer to the start or later, or whose sync wait times out, is stopped (``stop_on_failure``).
        """
        with self._stopped_on_failure(self.resource_kind, resource_id, started_here=started_here):
            return self._wait_or_defer(resource_id, current, started_here=started_here)

    def _wait_or_defer(self, resource_id: str, current: dict[str, Any], *, started_here: bool) -> dict[str, Any]:
        kind, target = self.resource_kind, self.target_status
        read_log = self.run_log_reader(resource_id)
        run_log = self.new_run_log() if read_log is not None else None
        if self.wait_for_completion and run_log is not None and read_log is not None and has_log(current):
            read_log(run_log)  # what the run wrote before the first poll (a pending run has written nothing)
        if not self.wait_for_completion or check_resource(current, kind, target, strict=True):
            return current
        deadline = self.wait_deadline()
        if self.deferrable:
            from airflow_provider_saturn.triggers.status import SaturnStatusTrigger

            self.log.info("Deferring the wait for Saturn %s %s to be %s", KIND_LABELS[kind], resource_id, target)
            self.defer(
                trigger=SaturnStatusTrigger(
                    resource_kind=kind,
                    resource_id=resource_id,
                    target_status=target,
                    deadline=deadline,
                    saturn_conn_id=self.saturn_conn_id,
                    poll_interval=self.poll_interval,
                    strict=True,
                    stop_on_kill=started_here,
                    follow_logs=run_log is not None,
                    log_cursor=run_log.cursor.to_json() if run_log is not None else None,
                    **(self.trigger_log_options() if run_log is not None else {}),
                ),
                method_name="execute_complete",
                kwargs={"kind": kind, "target": target, "resource_id": resource_id, "started_here": started_here},
            )
        self._waiting_on = (kind, resource_id) if started_here else None
        after_read = None
        if run_log is not None and read_log is not None:
            after_read = lambda resource: read_log(run_log) if has_log(resource) else None  # noqa: E731
        try:
            with _tail_on_failure(run_log), _log_read_to_its_end(read_log, run_log, self.log):
                return wait_for_status(
                    lambda: self.hook.get_resource(kind, resource_id),
                    kind=kind,
                    resource_id=resource_id,
                    target=target,
                    timeout=max(deadline - time.time(), 0.001),
                    poll_interval=self.poll_interval,
                    log=self.log,
                    after_read=after_read,
                )
        finally:
            self._waiting_on = None

    def expected_resource_id(self) -> str:
        """The id this operator waits on, worked out again after a deferral."""
        raise NotImplementedError

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **wait: Any) -> dict[str, Any]:
        """Resume after the trigger: refuse an event that is not ours, fail on error or timeout (stopping what
        this task started, see ``stop_on_failure``), else return the resource as it is now.

        ``wait`` holds what was deferred (``kind``, ``target``, ``resource_id``, ``started_here``); where a
        runner drops it (``dag.test()`` does), the operator works the id out again and takes ``started_here``
        from the event, which the trigger echoes.
        """
        kind = wait.get("kind") or self.resource_kind
        target = wait.get("target") or self.target_status
        resource_id = wait.get("resource_id") or self.expected_resource_id()
        started_here = wait.get("started_here")
        if started_here is None:
            started_here = isinstance(event, dict) and event.get("started_here") is True
        self.note_saturn_resource(resumed_ids(kind, resource_id))
        with self._stopped_on_failure(kind, resource_id, started_here=bool(started_here)):
            accepted = check_event(event, resource_id=resource_id, target=target)
        self.log.info("%s", accepted["message"])
        if target == "running":
            forget_started(context, kind, resource_id)  # it runs: a later start of it is not this task's
        return self.hook.get_resource(kind, resource_id)

    @contextmanager
    def _stopped_on_failure(self, kind: str, resource_id: str, *, started_here: bool) -> Iterator[None]:
        """A failed or timed-out wait on a start this task began stops the resource, then fails as it would."""
        from airflow_provider_saturn.client.errors import SaturnResourceError, SaturnWaitTimeoutError

        try:
            yield
        except (SaturnResourceError, SaturnWaitTimeoutError) as error:
            ended = isinstance(error, SaturnResourceError) and kind in FAILURE_ENDS_IT
            if started_here and self.stop_on_failure and not ended:
                self._stop_best_effort(kind, resource_id, f"its start failed ({type(error).__name__})")
            raise

    def _stop_best_effort(self, kind: str, resource_id: str, why: str) -> None:
        """Stop a resource this task started; log, and never raise: the task's own error is what matters."""
        label = f"Saturn {KIND_LABELS[kind]} {resource_id}"
        try:
            self.hook.stop_resource(kind, resource_id)
            self.log.warning("Stopped %s, which this task started: %s", label, why)
        except Exception as error:
            self.log.warning("Could not stop %s, which this task started (%s): %s", label, why, error)

    def on_kill(self) -> None:
        """A start killed while waiting stops what it started: best effort, logged, never raises."""
        if self._waiting_on is None:
            return
        kind, resource_id = self._waiting_on
        self._stop_best_effort(kind, resource_id, "the task was killed")


@contextmanager
def _log_read_to_its_end(read_log: Callable[[RunLog], None] | None, run_log: RunLog | None, log: Any) -> Iterator[None]:
    """A followed run that ended (completed, or failed) has its log read on while a read was cut short by its
    request bound, at most ``FINAL_LOG_READS`` more reads, as the trigger does; a timed-out wait reads no more."""
    from airflow_provider_saturn.client.errors import SaturnResourceError

    try:
        yield
    except SaturnResourceError:
        _read_on(read_log, run_log, log)
        raise
    else:
        _read_on(read_log, run_log, log)


def _read_on(read_log: Callable[[RunLog], None] | None, run_log: RunLog | None, log: Any) -> None:
    if read_log is None or run_log is None:
        return
    for _ in range(FINAL_LOG_READS):
        if not run_log.cursor.behind:
            return
        read_log(run_log)
    if run_log.cursor.behind:
        log.warning("%s", LOG_LEFT_IN_SATURN)


@contextmanager
def _tail_on_failure(run_log: RunLog | None) -> Iterator[None]:
    """A failed or timed-out wait that followed a log fails with the log's last lines in its message."""
    from airflow_provider_saturn.client.errors import SaturnResourceError, SaturnWaitTimeoutError

    try:
        yield
    except SaturnResourceError as error:
        if run_log is None or not run_log.tail:
            raise
        raise SaturnResourceError(
            run_log.with_tail(error.message), kind=error.kind, resource_id=error.resource_id
        ) from error
    except SaturnWaitTimeoutError as error:
        if run_log is None or not run_log.tail:
            raise
        raise SaturnWaitTimeoutError(run_log.with_tail(str(error))) from error
