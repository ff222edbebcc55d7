"""``SaturnStatusTrigger``: one async wait for a Saturn resource (Jupyter server, Dask cluster, deployment,
job run) to reach a status.

Serves the deferrable operators and sensors alike. Real async HTTP on a client pooled per event loop; the
waits of one triggerer that share a connection and a poll interval share one poller
(:mod:`~airflow_provider_saturn.client.poller`), which reads each resource once per interval however many
waits follow it (a followed job run's log adds its pages); an absolute deadline, so that a triggerer restart
does not reset it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_saturn.client.statuses import KIND_LABELS, StatusWatch, error_message_of
from airflow_provider_saturn.get_provider_info import DEFAULT_CONN_ID
from airflow_provider_saturn.run_logs import (
    FINAL_LOG_READS,
    LOG_LEFT_IN_SATURN,
    TAIL_KEY,
    RunLog,
    bounded_tail,
    has_log,
    replay_notice,
)
from airflow_provider_saturn.waiting import positive_seconds

# A trigger that starts this long after its deferral may be one remade after a triggerer restart, which Airflow
# does once the old triggerer has missed its heartbeats ([triggerer] triggerer_health_check_threshold, 30 s).
RESUMED_AFTER_SECONDS = 30.0
# The longest a followed job's read for its environment values (to mask them in the log) may take.
MASK_READ_SECONDS = 5.0


def deferred_moment(value: Any) -> float:
    """A ``deferred_at`` kwarg as a UNIX time; none, or not a finite number, means now."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return time.time()


def wait_event(
    status: str,
    *,
    resource_id: str,
    target_status: str,
    last_status: str | None,
    message: str,
    started_here: bool = False,
    log_tail: list[str] | None = None,
) -> dict[str, Any]:
    """The one terminal event shape: ``{status, resource_id, target_status, last_status, message,
    started_here}``; ``started_here`` echoes ``stop_on_kill`` for runners that drop the deferral's kwargs.
    A followed job run's failure adds ``log_tail``, the last lines of its log (bounded and masked: see
    :func:`~airflow_provider_saturn.run_logs.bounded_tail`), since the event is stored in Airflow's database."""
    event: dict[str, Any] = {
        "status": status,
        "resource_id": resource_id,
        "target_status": target_status,
        "last_status": last_status,
        "message": message,
        "started_here": started_here,
    }
    tail = bounded_tail(log_tail or [])
    if tail:
        event[TAIL_KEY] = tail
    return event


def connection_problem(conn_id: str, error: Exception) -> str:
    """Why no client could be built: our own config errors already name the connection; others get its name."""
    from airflow_provider_saturn.client.errors import SaturnConfigError

    if isinstance(error, SaturnConfigError):
        return str(error)
    return f"Cannot talk to Saturn through connection {conn_id!r}: {type(error).__name__}: {error}"


class SaturnStatusTrigger(BaseTrigger):
    """Wait until a Saturn resource reaches ``target_status``; fire one event and end.

    :param resource_kind: a kind of :data:`~airflow_provider_saturn.client.kinds.RESOURCES`: ``"jupyter_server"``,
        ``"dask_cluster"``, ``"deployment"`` or ``"job_run"``.
    :param resource_id: its id (a job run's: ``"<job id>/<run name>"``).
    :param target_status: ``"running"``, ``"stopped"``, ``"completed"`` (job runs), or ``"error"`` (sensors).
    :param deadline: absolute UNIX time after which the wait ends with a ``timeout`` event.
    :param saturn_conn_id: the Airflow connection, resolved in the triggerer (no secret is serialized).
    :param poll_interval: seconds between status reads (Saturn asks for no more than one per 10 s); must
        be positive.
    :param strict: fail when the resource heads away from the target (operators); sensors just wait.
    :param stop_on_kill: the operator started the resource: on Airflow 3.3+, stop it when a user kills the
        deferred task; the event echoes it as ``started_here``, for the operator's ``stop_on_failure``.
    :param timeout: seconds per HTTP request (default: the connection's ``timeout``, else 30).
    :param retry: retry policy values (see :class:`~airflow_provider_saturn.client.RetryPolicy`).
    :param follow_logs: a job run's new log lines go to the task log at each poll; a failure event carries the
        last of them.
    :param log_cursor: where the operator's own reading of the log stopped (JSON), so no line comes twice.
    :param deferred_at: UNIX time of the deferral (default: when the trigger is made, i.e. at the deferral; kept
        in the kwargs, so a trigger remade after a triggerer restart knows it is late and says so).
    :param frame_marker: a ``@task.saturn`` run's marker: its frame lines (the return value) are kept out of the
        task log; the operator reads them once the run has ended.
    """

    def __init__(
        self,
        *,
        resource_kind: str,
        resource_id: str,
        target_status: str,
        deadline: float,
        saturn_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 10.0,
        strict: bool = True,
        stop_on_kill: bool = False,
        timeout: float | None = None,
        retry: dict[str, Any] | None = None,
        follow_logs: bool = False,
        log_cursor: dict[str, Any] | None = None,
        deferred_at: float | None = None,
        frame_marker: str | None = None,
    ) -> None:
        super().__init__()
        self.resource_kind = resource_kind
        self.resource_id = resource_id
        self.target_status = target_status
        self.deadline = float(deadline)
        self.saturn_conn_id = saturn_conn_id
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.strict = strict
        self.stop_on_kill = stop_on_kill
        self.timeout = positive_seconds("timeout", timeout) if timeout is not None else None
        self.retry = dict(retry) if retry else None
        self.follow_logs = follow_logs and resource_kind == "job_run"
        self.log_cursor = log_cursor
        self.deferred_at = deferred_moment(deferred_at)
        if frame_marker is not None:
            from airflow_provider_saturn.remote.frames import FrameReader

            FrameReader(frame_marker)  # refuses anything but a marker, before the trigger is serialized
        self.frame_marker = frame_marker

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-only kwargs (no token, nothing tenacity-shaped)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "resource_kind": self.resource_kind,
                "resource_id": self.resource_id,
                "target_status": self.target_status,
                "deadline": self.deadline,
                "saturn_conn_id": self.saturn_conn_id,
                "poll_interval": self.poll_interval,
                "strict": self.strict,
                "stop_on_kill": self.stop_on_kill,
                "timeout": self.timeout,
                "retry": self.retry,
                "follow_logs": self.follow_logs,
                "log_cursor": self.log_cursor,
                "deferred_at": self.deferred_at,
                "frame_marker": self.frame_marker,
            },
        )

    async def _client(self) -> Any:
        from airflow_provider_saturn.client.async_client import shared_async_client
        from airflow_provider_saturn.client.retry import RetryPolicy
        from airflow_provider_saturn.triggers.connections import shared_connection_setup

        settings, credentials = await shared_connection_setup(self.saturn_conn_id)
        retry = RetryPolicy.from_dict(self.retry) if self.retry else settings["retry"]
        return shared_async_client(credentials, timeout=self.timeout or settings["timeout"], retry=retry)

    def _event(self, status: str, last_status: str | None, message: str, run_log: RunLog | None = None) -> TriggerEvent:
        tail = run_log.tail_lines() if run_log is not None and status != "success" else None
        return TriggerEvent(
            wait_event(
                status,
                resource_id=self.resource_id,
                target_status=self.target_status,
                last_status=last_status,
                message=message,
                started_here=self.stop_on_kill,
                log_tail=tail,
            )
        )

    async def _read_log(self, client: Any, run_log: RunLog) -> None:
        """The run's new log lines into the task log, as each page arrives; a failed read is logged (the lines
        it gave stay delivered, and the next read goes on after them), and the wait goes on."""
        from airflow_provider_saturn.client.async_jobs import read_new_log_lines
        from airflow_provider_saturn.client.errors import SaturnError
        from airflow_provider_saturn.client.job_runs import split_job_run_key
        from airflow_provider_saturn.client.poller import DEADLINE_READ_SECONDS

        job_id, run_name = split_job_run_key(self.resource_id)
        try:
            # Cut at the deadline plus the one grace that the wait's last status read shares with it, so that
            # everything after the deadline fits DEADLINE_READ_SECONDS (the lines read stay delivered).
            async with asyncio.timeout(max(self.deadline + DEADLINE_READ_SECONDS - time.time(), 0)):
                async for line in read_new_log_lines(client, job_id, run_name, run_log.cursor):
                    run_log.write(line, self.log)
        except SaturnError as error:
            run_log.read_failed(error, self.log)
        except TimeoutError:
            return  # the deadline came first: the lines read stay delivered, and the wait ends
        else:
            run_log.read_worked()

    async def _read_log_to_its_end(self, client: Any, run_log: RunLog) -> None:
        """The run has ended: read on while a read was cut short by its request bound, at most
        ``FINAL_LOG_READS`` more reads and not past the deadline, and say so if lines are left unread."""
        for _ in range(FINAL_LOG_READS):
            if not run_log.cursor.behind or time.time() >= self.deadline:
                return
            await self._read_log(client, run_log)
        if run_log.cursor.behind:
            self.log.warning("%s", LOG_LEFT_IN_SATURN)

    async def _mask_job_secrets(self, client: Any) -> None:
        """Register the followed job's environment values with the secrets masker of this triggerer, as the operator
        did in its worker; best effort, within ``MASK_READ_SECONDS`` and never past the deadline."""
        from airflow_provider_saturn.client.async_jobs import get_job
        from airflow_provider_saturn.client.job_runs import split_job_run_key
        from airflow_provider_saturn.run_logs import mask_job_secrets

        job_id, _ = split_job_run_key(self.resource_id)
        try:
            async with asyncio.timeout(max(min(self.deadline - time.time(), MASK_READ_SECONDS), 0)):
                mask_job_secrets(await get_job(client, job_id))
        except Exception as error:  # the wait matters more than the masking: it goes on
            self.log.debug("Could not read job %s to mask its environment values: %s", job_id, error)

    def _run_log(self) -> RunLog | None:
        """The followed log, from where the operator's reading stopped; a trigger that starts long after its
        deferral (``RESUMED_AFTER_SECONDS``) may follow a triggerer restart, and says once that the lines shown
        since the deferral may come again (nothing it can keep tells it what was shown)."""
        if not self.follow_logs:
            return None
        late = time.time() - self.deferred_at
        if late > RESUMED_AFTER_SECONDS:
            self.log.info("%s", replay_notice(self.deferred_at, late))
        from airflow_provider_saturn.remote.frames import FrameReader

        frames = FrameReader(self.frame_marker) if self.frame_marker else None  # to hide them: the operator reads
        return RunLog(self.log_cursor, frames=frames)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_saturn.client.errors import SaturnError, SaturnTransientError

        label = f"{KIND_LABELS.get(self.resource_kind, self.resource_kind)} {self.resource_id}"
        started = time.time()
        last_status: str | None = None
        last_problem = ""
        run_log = self._run_log()
        try:
            client = await self._client()
        except Exception as error:  # no connection, bad extras, anything: one error event, never a crashed trigger
            yield self._event("error", None, connection_problem(self.saturn_conn_id, error))
            return
        from airflow_provider_saturn.client.poller import shared_poller

        if run_log is not None:
            await self._mask_job_secrets(client)
        watch = StatusWatch(self.target_status, strict=self.strict)  # one grace for an unknown status
        async with shared_poller(client, self.poll_interval).following() as poller:
            while True:
                try:
                    resource = await self._poll(poller)
                except SaturnTransientError as error:  # retries spent: keep polling until the deadline
                    last_problem = f"; last error: {error}"
                    self.log.warning("Could not read %s (%s); polling on", label, error)
                except SaturnError as error:  # 401, 404...: waiting longer cannot help
                    yield self._event("error", last_status, str(error), run_log)
                    return
                else:
                    if run_log is not None and has_log(resource):
                        await self._read_log(client, run_log)
                    decision = watch.judge(resource.get("status"))
                    last_status = decision.status
                    if run_log is not None and decision.outcome in ("success", "failure"):
                        await self._read_log_to_its_end(client, run_log)
                    if decision.outcome == "success":
                        yield self._event("success", last_status, f"Saturn {label} is {self.target_status}")
                        return
                    if decision.outcome == "failure":
                        message = f"Saturn {label}: {decision.reason}: {error_message_of(resource)}"
                        yield self._event("error", last_status, message, run_log)
                        return
                if time.time() >= self.deadline:
                    deadline = datetime.fromtimestamp(self.deadline, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                    message = (
                        f"Timed out waiting for Saturn {label} to be {self.target_status!r} (deadline {deadline}, "
                        f"waited {time.time() - started:.0f}s in this triggerer); last status {last_status!r}"
                        f"{last_problem}"
                    )
                    yield self._event("timeout", last_status, message, run_log)
                    return

    async def _poll(self, poller: Any) -> dict[str, Any]:
        """The resource at the shared poller's next tick, never awaited past the deadline: then read on its own
        (through the poller's client) as the wait's last read, cut short so that the event comes within a second
        of the deadline (:func:`~airflow_provider_saturn.client.poller.answer_by`)."""
        from airflow_provider_saturn.client.poller import answer_by

        return await answer_by(poller, self.resource_kind, self.resource_id, self.deadline)

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the deferred task; stop what its operator started."""
        if not self.stop_on_kill:
            return
        try:
            client = await self._client()
            await client.stop_resource(self.resource_kind, self.resource_id)
            self.log.info(
                "Stopped Saturn %s %s after the task was killed", KIND_LABELS[self.resource_kind], self.resource_id
            )
        except Exception as error:  # best effort: a kill must not fail on cleanup
            self.log.warning(
                "Could not stop Saturn %s %s: %s", KIND_LABELS[self.resource_kind], self.resource_id, error
            )
