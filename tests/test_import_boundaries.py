"""What importing each part pulls in: the client stays free of Airflow; operators defer the HTTP stacks."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
before = set(sys.modules)
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def imported_by(*modules: str, preload: str = "") -> set[str]:
    code = (preload + "\n" if preload else "") + PROBE
    output = subprocess.run(
        [sys.executable, "-c", code, *modules], capture_output=True, text=True, check=True, timeout=240
    ).stdout
    return {name.split(".")[0] for name in json.loads(output.strip().splitlines()[-1])}


def test_the_client_imports_no_airflow() -> None:
    roots = imported_by("airflow_provider_saturn.client.sync_client", "airflow_provider_saturn.client.async_client")
    assert "airflow" not in roots
    assert {"requests", "tenacity", "httpx"} <= roots


def test_the_remote_package_imports_no_airflow_and_no_http_stack() -> None:
    roots = imported_by("airflow_provider_saturn.remote")
    assert not roots & {"airflow", "requests", "tenacity", "httpx", "urllib3", "cloudpickle"}, roots


def test_operators_and_sensors_defer_http_stacks_and_the_emulator() -> None:
    roots = imported_by(
        "airflow_provider_saturn.operators",
        "airflow_provider_saturn.sensors",
        preload="import airflow.sdk" if _airflow_3() else "import airflow.models",
    )
    assert not roots & {"requests", "tenacity", "httpx", "urllib3", "uvicorn", "starlette"}, roots


def _airflow_3() -> bool:
    from airflow_provider_saturn.compat import AIRFLOW_V_3

    return AIRFLOW_V_3
