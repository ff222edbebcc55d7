"""Client overhead: one status read through ``SaturnClient`` against a bare ``requests.Session.get`` of the same
emulator endpoint (same headers, same keep-alive), alternated call by call; ratio of the medians.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import requests

from airflow_provider_saturn.client import SaturnClient
from airflow_provider_saturn.client.defaults import client_headers
from benchmarks.emulator_process import TOKEN, EmulatorProcess


@dataclass
class ClientOverhead:
    calls: int
    client_median_ms: float
    bare_median_ms: float
    ratio: float


def run(calls: int = 3000, warmup: int = 200) -> ClientOverhead:
    with EmulatorProcess(transition_seconds=1) as emulator:
        workspace_id = emulator.control("/_emulator/seed", {"count": 1})["ids"][0]
        client = SaturnClient(url=emulator.url, api_token=TOKEN)
        session = requests.Session()
        session.headers.update(client_headers(TOKEN))
        url = f"{emulator.url}/api/workspaces/{workspace_id}"

        def bare() -> dict:
            response = session.get(url, timeout=30)
            response.raise_for_status()
            return response.json()

        def ours() -> dict:
            return client.get_jupyter_server(workspace_id)

        ours_samples: list[float] = []
        bare_samples: list[float] = []
        for index in range(warmup + calls):
            for call, samples in ((ours, ours_samples), (bare, bare_samples)):
                started = time.perf_counter()
                call()
                if index >= warmup:
                    samples.append(time.perf_counter() - started)
        client_median = statistics.median(ours_samples)
        bare_median = statistics.median(bare_samples)
    return ClientOverhead(calls, 1000 * client_median, 1000 * bare_median, client_median / bare_median)


if __name__ == "__main__":
    print(run())
