"""The issue's "done when": Saturn's own dask-saturn 0.4.4, in external mode (``SATURN_BASE_URL``,
``SATURN_TOKEN``), reads ``/info``, gets its certificate from ``/csr`` and computes on the emulator's real cluster.

It runs in a subprocess of its own, so that its environment variables and its logging set-up stay there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TOKEN, requests_to
from tests.emulator.dask_support import Api

pytest.importorskip("dask_saturn")

SCRIPT = """
import json, sys
import distributed
from dask_saturn import SaturnCluster

cluster = SaturnCluster(cluster_url=sys.argv[1])
with distributed.Client(cluster, set_as_default=False) as client:
    total = client.submit(sum, [1, 2, 3]).result(timeout=30)
    workers = sorted(client.scheduler_info()["workers"])
print(json.dumps({"total": total, "address": cluster.scheduler_address, "workers": workers}))
"""


def test_dask_saturn_gets_a_certificate_and_computes_on_the_real_cluster(emulator_dask) -> None:
    api = Api(emulator_dask.url)
    cluster_id = api.new_cluster(n_workers=2, nthreads=1)
    info = api.started(cluster_id)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SATURN_", "DASK_"))} | {
        "SATURN_BASE_URL": emulator_dask.url,
        "SATURN_TOKEN": TOKEN,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"{emulator_dask.url}/api/dask_clusters/{cluster_id}"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["total"] == 6
    assert answer["address"] == info["scheduler_address"]
    assert len(answer["workers"]) == 2
    assert requests_to(emulator_dask, "POST /api/dask_clusters/{id}/csr") == 1
    assert TOKEN not in result.stderr  # dask-saturn's own logs do not show the token
