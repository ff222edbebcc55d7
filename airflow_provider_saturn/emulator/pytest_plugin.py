"""A pytest plugin (registered through the ``pytest11`` entry point): the ``saturn_emulator`` fixture.

    def test_my_dag(saturn_emulator):
        dag_run = my_dag.test()   # saturn_default points at the emulator

The fixture serves a fresh emulator on 127.0.0.1 for the test and points the ``saturn_default`` Airflow
connection at it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_saturn.emulator.server import SaturnEmulator

TOKEN = "saturn-emulator-token"  # noqa: S105 - the local emulator's token


@pytest.fixture
def saturn_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SaturnEmulator]:
    """A Saturn API emulator for one test, with ``AIRFLOW_CONN_SATURN_DEFAULT`` pointing at it."""
    from airflow_provider_saturn.emulator.server import SaturnEmulator

    with SaturnEmulator(token=TOKEN, transition_seconds=0.5) as emulator:
        connection = {"conn_type": "saturn", "host": emulator.url, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_SATURN_DEFAULT", json.dumps(connection))
        yield emulator
