"""The whole deployment: Postgres, Redis, the Saturn emulator (in real-Dask mode: a started Dask cluster runs a
real scheduler and workers, its child processes) and six Airflow processes, up, healthy and down; and a second
Saturn emulator, in runner mode, started by the scenarios that run ``@task.saturn`` functions.

Airflow components, each in a session of its own with its log in ``<work>/logs/<name>.log`` (a restart writes
``<name>-2.log``, and so on): ``api-server`` (the only one that listens, on 127.0.0.1), ``scheduler``,
``dag-processor``, ``triggerer``, ``worker-1`` and ``worker-2`` (``airflow celery worker``). Scenarios stop, kill
and restart them through this class, and it says which worker a task instance's ``hostname`` belongs to.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from e2e.airflow_env import AirflowSettings, airflow_env, prepare_home
from e2e.emulator import Emulator
from e2e.metadb import MetaDB
from e2e.postgres import Postgres
from e2e.processes import Child, Processes
from e2e.redis_server import Redis
from e2e.rest import AirflowAPI
from e2e.waiting import SetupError, free_port, port_open, wait_for

WORKERS = ("worker-1", "worker-2")
RUNNER_MAX_PROCESSES = 4
"""Job run processes the runner emulator runs at once (more wait ``pending``)."""
RUNNER_MAX_RUN_SECONDS = 300.0
"""How long one job run process may run before the runner emulator kills it."""
DASK_MAX_PROCESSES = 8
"""Dask schedulers and workers the main emulator runs at once (a scenario's cluster is one and two)."""
DASK_MAX_WORKERS = 4
"""Workers of one of its Dask clusters, at most."""
DASK_START_TIMEOUT = 90.0
"""Seconds a Dask cluster has to answer with its workers joined (on 2 busy cores), else it is in ``error``."""
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", *WORKERS)
HEALTH_PARTS = ("scheduler", "triggerer", "dag_processor")


def hostname_of(component: str) -> str:
    """The host name a component reports to Airflow (``E2E_HOSTNAME``, see ``e2e/hostname.py``)."""
    return f"e2e-{component}"


def component_of(hostname: str | None) -> str:
    """The component a task instance's or job's ``hostname`` names; ``"?"`` for none."""
    if hostname and hostname.startswith("e2e-"):
        return hostname.removeprefix("e2e-")
    return "?"


class Deployment:
    """Everything the scenarios run against; ``up()`` starts it, ``down()`` stops it (see ``Processes``)."""

    def __init__(self, work: Path, processes: Processes, say: Callable[[str], None] = print) -> None:
        self.work = work
        self.processes = processes
        self.log_dir = work / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = Postgres(processes, work / "postgres", self.log_dir)
        self.redis = Redis(processes, work / "redis", self.log_dir)
        self.emulator = Emulator(
            processes,
            self.log_dir,
            real_dask=True,
            max_dask_processes=DASK_MAX_PROCESSES,
            max_dask_workers=DASK_MAX_WORKERS,
            dask_start_timeout=DASK_START_TIMEOUT,
        )
        self.runner = Emulator(
            processes,
            self.log_dir,
            transition_seconds=1.0,
            name="saturn-runner",
            run_commands=True,
            max_processes=RUNNER_MAX_PROCESSES,
            max_run_seconds=RUNNER_MAX_RUN_SECONDS,
        )
        self.settings = AirflowSettings(
            home=work / "airflow-home",
            api_port=free_port(),
            database_url=self.postgres.url,
            broker_url=self.redis.url,
            saturn_url=self.emulator.url,
            saturn_runner_url=self.runner.url,
        )
        self.api = AirflowAPI(self.settings.api_url)
        self.db = MetaDB(self.postgres.dsn(), self.settings.fernet_key)
        self.components: dict[str, Child] = {}
        self.incarnations: dict[str, int] = {}
        self.dag_ids: set[str] = set()
        self._say = say

    def say(self, message: str) -> None:
        self._say(f"e2e: {message}")

    # ---------------------------------------------------------------- up

    def up(self) -> None:
        """Start everything and wait until Airflow is healthy, both workers are ready and every DAG is parsed."""
        started = time.monotonic()
        self.postgres.start()
        self.say(f"Postgres on 127.0.0.1:{self.postgres.port} (as {self.postgres.user or 'this user'})")
        self.redis.start()
        self.say(f"Redis on 127.0.0.1:{self.redis.port}")
        self.emulator.start()
        self.say(f"Saturn emulator at {self.emulator.url} (real Dask clusters, at most {DASK_MAX_PROCESSES} processes)")
        dag_files = prepare_home(self.settings)
        self.dag_ids = {Path(name).stem for name in dag_files}
        self._migrate()
        self.say(f"airflow db migrate done ({time.monotonic() - started:.0f}s)")
        if port_open(self.settings.api_port):  # taken meanwhile by another program: take another
            self.settings.api_port = free_port()
            self.api = AirflowAPI(self.settings.api_url)
        for name in COMPONENTS:
            self.start(name)
        self.api.wait_healthy(timeout=240, components=HEALTH_PARTS)
        for worker in WORKERS:
            self.wait_worker_ready(worker, timeout=180)
        self.say(f"Airflow 3 healthy at {self.settings.api_url}, both Celery workers ready")
        self._wait_dags_parsed(timeout=240)
        self.say(f"{len(self.dag_ids)} DAGs parsed; deployment up in {time.monotonic() - started:.0f}s")

    def _migrate(self) -> None:
        child = self.processes.start(
            "airflow-db-migrate",
            self._airflow("db", "migrate"),
            log_path=self.log_dir / "airflow-db-migrate.log",
            env=airflow_env(self.settings, hostname_of("cli")),
            cwd=self.settings.home,
        )
        try:
            code = child.popen.wait(timeout=600)
        except Exception:
            child.kill()
            raise
        if code != 0:
            raise SetupError(f"airflow db migrate failed (exit {code}); see {child.log_path}")

    def _wait_dags_parsed(self, timeout: float) -> None:
        def parsed() -> bool:
            errors = self.api.import_errors()
            if errors:
                raise SetupError(f"DAG import errors: {errors}")
            return self.dag_ids <= self.api.dag_ids()

        wait_for(parsed, timeout=timeout, interval=2, what=f"the DAGs {sorted(self.dag_ids)} to be parsed")

    @staticmethod
    def _airflow(*args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def _command(self, name: str) -> list[str]:
        if name == "api-server":
            port = str(self.settings.api_port)
            return self._airflow("api-server", "--host", "127.0.0.1", "--port", port, "--workers", "2")
        if name == "scheduler":
            return self._airflow("scheduler", "--skip-serve-logs")
        if name == "dag-processor":
            return self._airflow("dag-processor")
        if name == "triggerer":
            return self._airflow("triggerer", "--skip-serve-logs")
        if name in WORKERS:
            return self._airflow(
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@e2e",
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            )
        raise ValueError(f"no component {name!r}")

    def runner_emulator(self) -> Emulator:
        """The Saturn emulator in runner mode (connection ``saturn_runner``), started on first use, emptied."""
        if not self.runner.running():
            self.runner.start()
            self.say(f"Saturn emulator in runner mode at {self.runner.url}")
        self.runner.reset()
        return self.runner

    # ---------------------------------------------------------------- components

    def log_path(self, name: str, incarnation: int | None = None) -> Path:
        """The log of one incarnation of a component (default: the current one)."""
        number = incarnation or self.incarnations.get(name, 1)
        return self.log_dir / (f"{name}.log" if number == 1 else f"{name}-{number}.log")

    def start(self, name: str) -> Child:
        """Start (or start again) one Airflow component; returns at once."""
        self.incarnations[name] = self.incarnations.get(name, 0) + 1
        child = self.processes.start(
            name,
            self._command(name),
            log_path=self.log_path(name),
            env=airflow_env(self.settings, hostname_of(name)),
            cwd=self.settings.home,
        )
        self.components[name] = child
        return child

    def stop(self, name: str, grace: float = 30.0) -> float:
        """SIGTERM a component (SIGKILL what is left after ``grace``); returns how long it took to exit."""
        started = time.monotonic()
        self.components[name].stop(grace)
        return time.monotonic() - started

    def kill(self, name: str) -> list[int]:
        """SIGKILL a component and every process of its tree at once; returns their pids."""
        return self.components[name].kill()

    def running(self, name: str) -> bool:
        return name in self.components and self.components[name].running()

    def wait_worker_ready(self, name: str, timeout: float) -> None:
        """Until the worker's current log says Celery is ready (``<name>@e2e ready.``)."""
        log = self.log_path(name)
        child = self.components[name]

        def ready() -> bool:
            if not child.running():
                raise SetupError(f"{name} exited with {child.popen.returncode}; see {log}")
            return f"{name}@e2e ready." in log.read_text(errors="replace")

        wait_for(ready, timeout=timeout, interval=0.5, what=f"{name} to be ready")

    def wait_triggerer_alive(self, timeout: float, newer_than: int = 0) -> dict[str, object]:
        """The running triggerer's job (with an id above ``newer_than``) once it heartbeats; bounded."""

        def alive() -> dict[str, object] | None:
            for job in self.api.jobs("TriggererJob"):
                if job["state"] == "running" and job["id"] > newer_than and job["hostname"] == hostname_of("triggerer"):
                    return dict(job)
            return None

        return wait_for(alive, timeout=timeout, interval=0.5, what="a running triggerer job")

    # ---------------------------------------------------------------- down

    def down(self) -> list[str]:
        """Stop everything (bounded); returns any process that had to be swept up afterwards."""
        for closing in (self.api.close, self.db.close):
            with contextlib.suppress(Exception):  # teardown goes on whatever a client says
                closing()
        return self.processes.stop_all(grace=20)
