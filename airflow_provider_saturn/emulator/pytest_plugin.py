"""A pytest plugin (registered through the ``pytest11`` entry point): the ``saturn_emulator``,
``saturn_emulator_runner`` and ``saturn_emulator_dask`` fixtures.

    def test_my_dag(saturn_emulator):
        dag_run = my_dag.test()   # saturn_default points at the emulator

Each fixture serves a fresh emulator on 127.0.0.1 for the test and points the ``saturn_default`` Airflow
connection at it. With ``saturn_emulator`` job runs play their commands as scripts; with
``saturn_emulator_runner`` (runner mode) they run them for real, as processes of the test's machine, and
every process and temporary home is gone when the test ends. With ``saturn_emulator_dask`` (real-Dask mode,
``pip install 'airflow-provider-saturn[dask]'``) a started Dask cluster runs a real ``distributed`` scheduler
and workers on 127.0.0.1 (mutual TLS), which a task's Dask client computes on; they are gone when the test ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_saturn.emulator.server import SaturnEmulator

TOKEN = "saturn-emulator-token"  # noqa: S105 - the local emulator's token


def _served(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Iterator[SaturnEmulator]:
    from airflow_provider_saturn.emulator.server import SaturnEmulator

    with SaturnEmulator(token=TOKEN, transition_seconds=0.5, **settings) as emulator:
        connection = {"conn_type": "saturn", "host": emulator.url, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
        yield emulator


@pytest.fixture
def saturn_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    """A Saturn API emulator for one test, with ``AIRFLOW_CONN_SATURN_DEFAULT`` pointing at it."""
    yield from _served(monkeypatch)


@pytest.fixture
def saturn_emulator_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    """``saturn_emulator`` in runner mode: each job run's pods run the job's commands as real processes."""
    yield from _served(monkeypatch, run_commands=True)


@pytest.fixture
def saturn_emulator_dask(monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    """``saturn_emulator`` in real-Dask mode: a started Dask cluster runs a real scheduler and workers."""
    yield from _served(monkeypatch, real_dask=True)
