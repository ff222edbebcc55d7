"""Shared fixtures: an isolated Airflow home on SQLite, and a Saturn emulator served over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports Airflow: a private home, SQLite, no examples.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="saturn-provider-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "example_dags")
os.environ["SATURN_EXAMPLE_POLL_INTERVAL"] = "0.2"
for _name in ("SATURN_BASE_URL", "BASE_URL", "SATURN_TOKEN"):
    os.environ.pop(_name, None)

from airflow_provider_saturn.client import RetryPolicy, SaturnClient  # noqa: E402
from airflow_provider_saturn.emulator import SaturnEmulator  # noqa: E402

TOKEN = "test-token-3f9a7c1e5b2d4a6f8e0c"
FAST_RETRY = RetryPolicy(max_attempts=4, max_total_seconds=10, initial_wait=0.01, max_wait=0.05)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[SaturnEmulator]:
    with SaturnEmulator(token=TOKEN, transition_seconds=0.2, expired_tokens=("expired-token",)) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: SaturnEmulator) -> Iterator[SaturnEmulator]:
    """The shared emulator, emptied, fault-free and with fresh statistics for each test."""
    with emulator_server.state.lock:
        emulator_server.state.reset()
        emulator_server.state.transition_seconds = 0.2
    emulator_server.set_faults()
    stats = emulator_server.config.stats
    stats.requests, stats.by_route, stats.connections, stats.faults = 0, {}, set(), {}
    yield emulator_server
    emulator_server.set_faults()


@pytest.fixture
def client(emulator: SaturnEmulator) -> Iterator[SaturnClient]:
    with SaturnClient(url=emulator.url, api_token=TOKEN, retry=FAST_RETRY, timeout=5) as saturn_client:
        yield saturn_client


def requests_to(emulator: SaturnEmulator, route: str) -> int:
    """How many API requests the emulator saw for ``"METHOD /api/path"`` (ids shown as ``{id}``)."""
    return emulator.config.stats.by_route.get(route, 0)


def point_saturn_default_at(url: str, monkeypatch: pytest.MonkeyPatch, *, max_attempts: int = 4) -> None:
    """``saturn_default`` is ``url`` with the tests' token and fast retries."""
    connection = {
        "conn_type": "saturn",
        "host": url,
        "password": TOKEN,
        "extra": {"retry": {"max_attempts": max_attempts, "initial_wait": 0.01, "max_wait": 0.05}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))


@pytest.fixture
def saturn_connection(emulator: SaturnEmulator, monkeypatch: pytest.MonkeyPatch) -> SaturnEmulator:
    """``saturn_default`` points at the emulator, with fast retries."""
    point_saturn_default_at(emulator.url, monkeypatch)
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database, made once per test session."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)


@pytest.fixture
def emulator_runner() -> Iterator[SaturnEmulator]:
    """A fresh emulator for one test in runner mode: job runs run their commands as real processes."""
    with SaturnEmulator(token=TOKEN, transition_seconds=0.05, run_commands=True, kill_grace_seconds=0.5) as server:
        yield server


@pytest.fixture(scope="session")
def emulator_dask_server() -> Iterator[SaturnEmulator]:
    """An emulator in real-Dask mode, shared by the tests' session (its clusters are each test's own)."""
    with SaturnEmulator(token=TOKEN, transition_seconds=0.05, real_dask=True, kill_grace_seconds=2.0) as server:
        yield server


@pytest.fixture
def emulator_dask(emulator_dask_server: SaturnEmulator) -> Iterator[SaturnEmulator]:
    """The real-Dask emulator, emptied for the test: every Dask process of an earlier test has ended."""
    _empty_real_dask(emulator_dask_server)
    yield emulator_dask_server
    _empty_real_dask(emulator_dask_server)


def _empty_real_dask(server: SaturnEmulator, timeout: float = 15.0) -> None:
    """Reset the emulator, then wait (bounded) until its Dask clusters' processes have all ended."""
    import time

    assert server.dask is not None
    with server.state.lock:
        server.state.reset()
    stats = server.config.stats
    stats.requests, stats.by_route, stats.connections, stats.faults = 0, {}, set(), {}
    deadline = time.monotonic() + timeout
    while True:
        with server.state.lock:
            left = server.dask.pids()
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Dask processes {left} still run {timeout:g} s after a reset")
        time.sleep(0.05)
