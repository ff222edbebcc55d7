"""``SaturnHook.get_dask_client`` against the emulator's real Dask cluster: the time and the Saturn requests from
the call to the first result of a computation on the cluster.

In a fresh process, with the emulator in real-Dask mode in another (a real ``distributed`` scheduler and one
worker on 127.0.0.1, mutual TLS from the cluster's own CA) serving a running cluster, the hook
(``saturn_default`` pointed at the emulator, its client made beforehand, as in a task that has already made a
request) then, 7 times:
``get_dask_client(cluster_id)`` (the cluster's status, its ``/info``, a new RSA-2048 key and its CSR signed
through ``/csr``, the TLS connection to the scheduler), ``client.submit(sum, [1, 2, 3]).result()``, close.
The first time includes importing ``distributed`` and ``cryptography``; the median is over the 6 after it.
Requests are counted by the emulator, by route; the key generation is timed apart (``signing_request``).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from benchmarks.child import measured_in_child
from benchmarks.emulator_process import EmulatorProcess
from benchmarks.report import Row

TOKEN = "bench-token"
REPEATS = 7
GOAL_SECONDS = 2.0
GOAL_REQUESTS = 3


@dataclass
class DaskClientCosts:
    """Seconds from the call to the first result (the first, cold, and the others), requests per call by route,
    and the key generation's own time."""

    first_seconds: float
    warm_seconds: list[float]
    requests_by_route: dict[str, int]
    requests_per_call: float
    key_seconds: float
    right: bool

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.warm_seconds)


def _running_cluster(emulator: EmulatorProcess) -> str:
    from airflow_provider_saturn.client import SaturnClient

    with SaturnClient(url=emulator.url, api_token=TOKEN) as client:
        project = client.create_project("bench-dask")
        cluster = client.create_dask_cluster(project["id"], n_workers=1, nthreads=1)
        client.start_dask_cluster(cluster["id"])
        deadline = time.monotonic() + 120
        while client.get_dask_cluster(cluster["id"])["status"] != "running":
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator's Dask cluster did not start")
            time.sleep(0.1)
    return str(cluster["id"])


def measure() -> DaskClientCosts:
    """Every measure, against a real-Dask emulator in a process of its own (its Dask processes are its own too)."""
    emulator = EmulatorProcess(transition_seconds=0.05, options=("--real-dask",))
    try:
        cluster_id = _running_cluster(emulator)
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps(
            {"conn_type": "saturn", "host": emulator.url, "password": TOKEN}
        )
        from airflow_provider_saturn.hooks.saturn import SaturnHook

        hook = SaturnHook()
        hook.get_conn()
        emulator.control("/_emulator/stats", method="DELETE")
        times, right = [], True
        for _ in range(REPEATS):
            started = time.perf_counter()
            client = hook.get_dask_client(cluster_id, timeout=30)
            right &= client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
            times.append(time.perf_counter() - started)
            client.close()
        counted = emulator.control("/_emulator/stats", method="GET")
    finally:
        emulator.stop()
    from airflow_provider_saturn.client.dask_tls import signing_request

    keys = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        signing_request(cluster_id)
        keys.append(time.perf_counter() - started)
    return DaskClientCosts(
        first_seconds=times[0],
        warm_seconds=times[1:],
        requests_by_route=dict(counted["by_route"]),
        requests_per_call=counted["requests"] / REPEATS,
        key_seconds=statistics.median(keys),
        right=bool(right),
    )


def run() -> DaskClientCosts:
    """:func:`measure` in a fresh process (its imports, its connection and its Dask processes stay there)."""
    return DaskClientCosts(**measured_in_child("benchmarks.dask_client"))


def rows(costs: DaskClientCosts) -> list[Row]:
    """The figures as rows of the results table."""
    routes = ", ".join(f"{count / REPEATS:g}x {route}" for route, count in costs.requests_by_route.items())
    wrong = "" if costs.right else "; WRONG RESULT"
    return [
        Row(
            "get_dask_client: time from the call to the first result on the cluster",
            f"{costs.median_seconds:.2f} s median of {len(costs.warm_seconds)} (max "
            f"{max(costs.warm_seconds):.2f} s; the first, importing distributed: {costs.first_seconds:.2f} s); "
            f"of it the RSA-2048 key and CSR: {costs.key_seconds * 1000:.0f} ms" + wrong,
            f"< {GOAL_SECONDS:g} s",
            costs.right and costs.first_seconds < GOAL_SECONDS and max(costs.warm_seconds) < GOAL_SECONDS,
        ),
        Row(
            "get_dask_client: Saturn requests per call",
            f"{costs.requests_per_call:g} ({routes})",
            f"<= {GOAL_REQUESTS}",
            costs.requests_per_call <= GOAL_REQUESTS,
        ),
    ]


NOTES = [
    "**`get_dask_client`** (`benchmarks/dask_client.py`). In a fresh process, with the emulator in real-Dask mode",
    "in another (a real `distributed` scheduler and one worker on 127.0.0.1, mutual TLS from the cluster's own",
    "CA) and `SaturnHook` (its client made beforehand): 7 times `get_dask_client(cluster_id)` (status, `/info`,",
    "a new RSA-2048 key and CSR signed through `/csr`, TLS to the scheduler), `submit(sum, [1, 2, 3]).result()`,",
    "close; wall time of each. The first includes importing `distributed` and `cryptography`; the median and",
    "max are of the 6 after it. Requests counted by the emulator by route; the key and CSR timed apart",
    "(median of 7).",
    "",
]


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(asdict(measure())))
    else:
        for row in rows(run()):
            print(f"{row.measure}: {row.figure}" + (f" (goal {row.goal}: {row.verdict})" if row.goal else ""))
