"""The configuration every Airflow component of the deployment shares, as ``AIRFLOW__...`` variables.

CeleryExecutor on Redis, the metadata database on Postgres, the simple auth manager with every user an admin
(the REST client still takes a JWT from ``/auth/token``, as Airflow 3 requires), one JWT secret and Fernet key for
all components, and timings short enough that a dead worker or triggerer is noticed in seconds, not minutes.
No component serves anything but the API server, on 127.0.0.1: workers and the triggerer run with
``--skip-serve-logs`` (their log servers would listen on every interface), and the API server reads task logs
from the shared log folder, which is local.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from e2e.emulator import TOKEN

ROOT = Path(__file__).resolve().parent.parent
DAG_SOURCES = (ROOT / "example_dags", ROOT / "e2e" / "dags")

HEARTBEAT_TIMEOUT = 20
"""Seconds without a heartbeat after which the scheduler fails a running task (Airflow's default is 300)."""
TRIGGERER_HEALTH_THRESHOLD = 15
"""Seconds without a heartbeat after which a triggerer counts as dead and its triggers go to another."""
EXAMPLE_POLL_INTERVAL = 1
"""``SATURN_EXAMPLE_POLL_INTERVAL`` for the example DAGs: the emulator is polled every second."""


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass
class AirflowSettings:
    """Where the deployment lives and how its parts reach each other."""

    home: Path
    api_port: int
    database_url: str
    broker_url: str
    saturn_url: str
    saturn_runner_url: str | None = None  # the emulator in runner mode, as connection ``saturn_runner``
    fernet_key: str = field(default_factory=_fernet_key)
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    api_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def dags(self) -> Path:
        return self.home / "dags"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def pythonpath(self) -> Path:
        return self.home / "pythonpath"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def result_backend(self) -> str:
        return "db+" + self.database_url  # Celery's database result backend, in the same database


def prepare_home(settings: AirflowSettings) -> list[str]:
    """Make AIRFLOW_HOME: the DAGs (example_dags/ and e2e/dags/ side by side) and the hostname module; the DAG
    files copied."""
    settings.dags.mkdir(parents=True, exist_ok=True)
    settings.logs.mkdir(parents=True, exist_ok=True)
    settings.pythonpath.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "e2e" / "hostname.py", settings.pythonpath / "e2e_hostname.py")
    copied = []
    for source in DAG_SOURCES:
        for dag_file in sorted(source.glob("*.py")):
            if dag_file.name != "__init__.py":
                shutil.copy(dag_file, settings.dags / dag_file.name)
                copied.append(dag_file.name)
    return copied


def airflow_env(settings: AirflowSettings, hostname: str) -> dict[str, str]:
    """The environment of one component (``hostname`` is how it names itself, see ``e2e/hostname.py``)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "SATURN_")) and key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    venv_bin = str(Path(sys.executable).parent)
    connection = {"conn_type": "saturn", "host": settings.saturn_url, "password": TOKEN}
    runner = {"conn_type": "saturn", "host": settings.saturn_runner_url, "password": TOKEN}
    config = {
        "CORE__EXECUTOR": "CeleryExecutor",
        "CORE__LOAD_EXAMPLES": "False",
        "CORE__DAGS_FOLDER": str(settings.dags),
        "CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "CORE__FERNET_KEY": settings.fernet_key,
        "CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "CORE__HOSTNAME_CALLABLE": "e2e_hostname.component_hostname",
        "CORE__PARALLELISM": "256",
        "CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "DATABASE__SQL_ALCHEMY_CONN": settings.database_url,
        "CELERY__BROKER_URL": settings.broker_url,
        "CELERY__RESULT_BACKEND": settings.result_backend,
        "CELERY__WORKER_CONCURRENCY": "16",
        "API__BASE_URL": settings.api_url,
        "API__SECRET_KEY": settings.api_secret,
        "API_AUTH__JWT_SECRET": settings.jwt_secret,
        "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
        "SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
        "SCHEDULER__MAX_TIS_PER_QUERY": "64",
        "TRIGGERER__JOB_HEARTBEAT_SEC": "3",
        "TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
        "DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "LOGGING__BASE_LOG_FOLDER": str(settings.logs),
    }
    return {
        **inherited,
        "PATH": venv_bin + os.pathsep + inherited.get("PATH", ""),
        "AIRFLOW_HOME": str(settings.home),
        **{f"AIRFLOW__{key}": value for key, value in config.items()},
        "AIRFLOW_CONN_SATURN_DEFAULT": json.dumps(connection),
        **({"AIRFLOW_CONN_SATURN_RUNNER": json.dumps(runner)} if settings.saturn_runner_url else {}),
        "SATURN_EXAMPLE_POLL_INTERVAL": str(EXAMPLE_POLL_INTERVAL),
        "PYTHONPATH": str(settings.pythonpath),
        "E2E_HOSTNAME": hostname,
    }
