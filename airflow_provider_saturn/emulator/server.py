"""Running the emulator: in a background thread (tests, benchmarks) or in the foreground (the CLI)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import uvicorn

from airflow_provider_saturn.emulator.app import DroppedConnection, EmulatorConfig, build_app
from airflow_provider_saturn.emulator.faults import FaultPlan, FaultSettings
from airflow_provider_saturn.emulator.metrics_script import parse_metrics_script
from airflow_provider_saturn.emulator.owners import DEFAULT_OWNER, Owner, parse_owner_spec
from airflow_provider_saturn.emulator.seeding import parse_seed, seed
from airflow_provider_saturn.emulator.state import EmulatorError, SaturnState


class _HideDroppedConnections(logging.Filter):
    """Emulated drops are on purpose: keep their tracebacks out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())


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
    ) -> None:
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
        uvicorn_config = uvicorn.Config(
            build_app(self.config),
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
    ) -> None:
        """Script a resource's metrics; no arguments but ``kind`` and ``id``: back to the defaults.

        The same as ``POST /_emulator/metrics`` (see ``metrics_script.py``); ``clock_offset_seconds`` plays a
        Saturn whose clock runs that far ahead of Airflow's (behind when negative).
        """
        body = {
            "series": series,
            "missing": missing,
            "missing_pods": missing_pods,
            "clock_offset_seconds": clock_offset_seconds,
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
