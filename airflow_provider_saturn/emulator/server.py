"""Running the emulator: in a background thread (tests, benchmarks) or in the foreground (the CLI).

Every answer carries a ``Date`` header, as uvicorn's would, but written here (:class:`DatedAnswers`): an answer
whose handler plays another clock (a resource's scripted metrics) is dated by that clock.
"""

from __future__ import annotations

import atexit
import email.utils
import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import uvicorn

from airflow_provider_saturn.emulator.app import DroppedConnection, EmulatorConfig, build_app
from airflow_provider_saturn.emulator.faults import FaultPlan, FaultSettings
from airflow_provider_saturn.emulator.metrics_script import parse_metrics_script
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, parse_owner_spec
from airflow_provider_saturn.emulator.real_dask import DaskProcesses, RealDaskSettings, check_available
from airflow_provider_saturn.emulator.routes_metrics import CLOCK_OFFSET_SCOPE_KEY
from airflow_provider_saturn.emulator.runner import JobRunner, RunnerSettings
from airflow_provider_saturn.emulator.seeding import parse_seed, seed
from airflow_provider_saturn.emulator.state import EmulatorError, SaturnState


class _HideDroppedConnections(logging.Filter):
    """Emulated drops are on purpose: keep their tracebacks out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DatedAnswers:
    """ASGI middleware: a ``Date`` header on every answer, by the real clock plus the seconds the handler left
    under ``CLOCK_OFFSET_SCOPE_KEY`` in the request's scope (a resource whose metrics play a clock off)."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                offset = scope.get(CLOCK_OFFSET_SCOPE_KEY, 0.0)
                date = email.utils.formatdate(time.time() + offset, usegmt=True).encode()
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != b"date"]
                message["headers"] = [*headers, (b"date", date)]
            await send(message)

        await self.app(scope, receive, dated)


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SaturnEmulator:
    """A Saturn API emulator on ``host``:``port`` (``port=0`` picks a free one), run in a daemon thread.

    :param token: the API token it accepts (``Authorization: token X`` or ``Bearer X``), acting as the
        org admin ``emulator/airflow``, whom resources made through the API belong to.
    :param tokens: more tokens, each acting as an owner: a path ``"<org>/<identity>"`` (a user who is not an
        org admin, so ``list_by=org|account`` answers 403) or ``{"name", "identity_type", "org_admin"}``.
    :param transition_seconds: how long ``pending`` and ``stopping`` last.
    :param faults: fault injection settings.
    :param expired_tokens: tokens answered with a 401 saying the token expired.
    :param run_visibility_delay: seconds a new job run stays out of runtime summaries, history and active pods.
    :param run_commands: runner mode (``runner.py``): each pod of a job run runs the job's start script and
        command for real, as processes of this machine. Off by default; refused unless ``host`` is loopback.
    :param python: what ``python`` runs in a pod in runner mode (default: this interpreter).
    :param max_processes: runner mode: pods running at once (more wait ``pending``).
    :param max_run_seconds: runner mode: how long a pod may run before it is killed and fails.
    :param kill_grace_seconds: runner and real-Dask modes: from SIGTERM to SIGKILL when a pod or a Dask
        cluster's process is stopped or killed.
    :param real_dask: real-Dask mode (``real_dask.py``): starting a Dask cluster starts a real ``distributed``
        scheduler and its workers on 127.0.0.1, mutual TLS from the cluster's own CA. Off by default; refused
        unless ``host`` is loopback and ``distributed`` is installed.
    :param max_dask_processes: real-Dask mode: schedulers and workers of every cluster at once, at most.
    :param max_dask_workers: real-Dask mode: workers of one cluster, at most.
    :param dask_start_timeout: real-Dask mode: seconds for a cluster to answer, else it is in ``error``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "emulator-token",  # noqa: S107 - a local test server
        transition_seconds: float = 2.0,
        faults: FaultSettings | None = None,
        expired_tokens: tuple[str, ...] = (),
        backlog: int = 2048,
        path_prefix: str = "",
        run_visibility_delay: float = 0.0,
        tokens: Mapping[str, str | Mapping[str, Any]] | None = None,
        run_commands: bool = False,
        python: str | None = None,
        max_processes: int = 4,
        max_run_seconds: float = 3600.0,
        kill_grace_seconds: float = 10.0,
        real_dask: bool = False,
        max_dask_processes: int = 12,
        max_dask_workers: int = 16,
        dask_start_timeout: float = 60.0,
    ) -> None:
        runner_settings: RunnerSettings | None = None
        dask_settings: RealDaskSettings | None = None
        if run_commands:
            if not _is_loopback(host):
                raise ValueError(
                    f"run_commands: the emulator runs what its clients send, so only on a loopback host "
                    f"(127.0.0.1, localhost), not {host!r}"
                )
            runner_settings = RunnerSettings(
                python=python if python is not None else sys.executable,
                max_processes=max_processes,
                max_run_seconds=max_run_seconds,
                kill_grace_seconds=kill_grace_seconds,
            )
        if real_dask:
            if not _is_loopback(host):
                raise ValueError(
                    f"real_dask: Dask workers run what their clients send, so only on a loopback host "
                    f"(127.0.0.1, localhost), not {host!r}"
                )
            check_available()  # before anything is bound
            dask_settings = RealDaskSettings(
                max_processes=max_dask_processes,
                max_workers=max_dask_workers,
                start_timeout=dask_start_timeout,
                kill_grace_seconds=kill_grace_seconds,
            )
        self.token = token
        state = SaturnState(transition_seconds=transition_seconds, run_visibility_delay=run_visibility_delay)
        identities: dict[str, Owner] = {token: DEFAULT_OWNER}
        for extra_token, spec in (tokens or {}).items():
            if extra_token == token:
                raise ValueError(f"tokens: {extra_token!r} is the main token")
            try:
                identities[extra_token] = state.owners.resolve(parse_owner_spec(spec, "tokens"), permanent=True)
            except EmulatorError as error:
                raise ValueError(error.message) from None
        self.config = EmulatorConfig(
            tokens=identities,
            expired_tokens=frozenset(expired_tokens),
            state=state,
            faults=FaultPlan(faults),
            path_prefix="/" + path_prefix.strip("/") if path_prefix.strip("/") else "",
        )
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.runner = JobRunner(state, runner_settings, self.url, identities) if runner_settings else None
        state.jobs.runner = self.runner
        self.dask = DaskProcesses(state, state.dask_authorities, dask_settings) if dask_settings else None
        state.dask_backend = self.dask
        if self.dask is not None:
            atexit.register(self.dask.shutdown)  # the interpreter's exit ends every cluster's processes too
        uvicorn_config = uvicorn.Config(
            DatedAnswers(build_app(self.config)),
            date_header=False,  # DatedAnswers writes it
            log_level="warning",
            lifespan="off",
            access_log=False,
            backlog=backlog,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(uvicorn_config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.config.path_prefix}"

    @property
    def state(self) -> SaturnState:
        return self.config.state

    def start(self, timeout: float = 10.0) -> SaturnEmulator:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("The Saturn emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving; in runner mode first end every pod's processes and remove their homes, in real-Dask
        mode every Dask cluster's processes and private directories."""
        if self.runner is not None:
            self.runner.shutdown()
        if self.dask is not None:
            self.dask.shutdown()
            atexit.unregister(self.dask.shutdown)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SaturnEmulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # Direct controls for tests in the same process (the same exist over HTTP under /_emulator).
    def fail(self, kind: str, resource_id: str, message: str) -> None:
        with self.state.lock:
            self.state.fail(kind, resource_id, message)

    def set_faults(self, **settings: Any) -> None:
        self.config.faults.configure(FaultSettings(**settings))

    def seed(self, **group: Any) -> dict[str, Any]:
        """Make many resources at once: the fields of one seed group, or ``groups=[{...}, ...]``.

        The same as ``POST /_emulator/seed`` (see ``seeding.py``); returns its answer.
        """
        with self.state.lock:
            return seed(self.state, parse_seed(group))

    def set_metrics(
        self,
        kind: str,
        resource_id: str,
        *,
        series: Mapping[str, Any] | None = None,
        missing: bool | list[str] | None = None,
        missing_pods: list[str] | None = None,
        clock_offset_seconds: float | None = None,
        lookback_seconds: float | None = None,
    ) -> None:
        """Script a resource's metrics; no arguments but ``kind`` and ``id``: back to the defaults.

        The same as ``POST /_emulator/metrics`` (see ``metrics_script.py``); ``clock_offset_seconds`` plays a
        Saturn whose clock runs that far ahead of Airflow's (behind when negative), ``lookback_seconds`` metrics
        that go on after now as a Prometheus range query's do.
        """
        body = {
            "series": series,
            "missing": missing,
            "missing_pods": missing_pods,
            "clock_offset_seconds": clock_offset_seconds,
            "lookback_seconds": lookback_seconds,
        }
        script = parse_metrics_script({key: value for key, value in body.items() if value is not None})
        with self.state.lock:
            self.state.set_metrics(kind, resource_id, script)

    def backdate(self, kind: str, resource_id: str, seconds: float) -> None:
        """Make an active resource's current start ``seconds`` ago (``POST /_emulator/backdate``)."""
        with self.state.lock:
            self.state.backdate(kind, resource_id, seconds)

    def configure(self, **settings: float) -> dict[str, float]:
        """Change ``transition_seconds`` and/or ``run_visibility_delay``; returns every setting.

        The same as ``POST /_emulator/config``; a reset puts ``run_visibility_delay`` back to the constructor's.
        """
        with self.state.lock:
            return self.state.configure(**settings)
