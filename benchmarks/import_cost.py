"""Import cost: what importing a provider's operators adds to a DAG-file parse that already has ``airflow.sdk``.

Each figure is the median over fresh Python processes of the time to import the modules on top of an
already imported ``airflow.sdk`` (and ``BaseOperator``), as a DAG file parsed by the DAG processor sees it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass

PROBE = """
import json, sys, time
import airflow.sdk
from airflow.sdk import BaseOperator, BaseSensorOperator  # what any DAG file already pays for
before = set(sys.modules)
started = time.perf_counter()
for name in sys.argv[1:]:
    __import__(name)
elapsed = time.perf_counter() - started
added = sorted(set(sys.modules) - before)
heavy = [m for m in ("requests", "tenacity", "httpx", "urllib3", "uvicorn", "starlette", "aiohttp") if m in added]
print(json.dumps({"seconds": elapsed, "modules": len(added), "heavy": heavy}))
"""

SUBJECTS = {
    "airflow-provider-saturn (operators + sensors)": [
        "airflow_provider_saturn.operators",
        "airflow_provider_saturn.sensors",
    ],
    "apache-airflow-providers-dbt-cloud (operators)": ["airflow.providers.dbt.cloud.operators.dbt"],
    "apache-airflow-providers-databricks (operators)": ["airflow.providers.databricks.operators.databricks"],
}


@dataclass
class ImportCost:
    subject: str
    median_seconds: float
    runs: int
    modules_added: int
    heavy_modules: list[str]


def measure(modules: list[str], runs: int) -> tuple[float, int, list[str]]:
    samples, last = [], {}
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=True, timeout=300
        ).stdout
        last = json.loads(output.strip().splitlines()[-1])
        samples.append(last["seconds"])
    return statistics.median(samples), last["modules"], last["heavy"]


def run(runs: int = 7) -> list[ImportCost]:
    results = []
    for subject, modules in SUBJECTS.items():
        median, added, heavy = measure(modules, runs)
        results.append(ImportCost(subject, median, runs, added, heavy))
    return results


if __name__ == "__main__":
    for cost in run():
        print(cost)
