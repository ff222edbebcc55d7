#!/usr/bin/env python3
"""Set-up and checks from nothing but Python and pip.

    python dev.py demo     # start the Saturn emulator and run the demo against it
    python dev.py test     # every test, on Airflow 3 and on Airflow 2.11
    python dev.py lint     # ruff and mypy
    python dev.py bench    # the benchmarks (benchmarks/RESULTS.md)

Installs uv with pip when it is missing, then the locked environments (uv.lock): ``.venv`` for Airflow 3
and ``.venv-af2`` for Airflow 2.11.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
LINES: dict[str, dict[str, Any]] = {
    "3": {"venv": ".venv", "groups": ["--group", "airflow3"]},
    "2": {"venv": ".venv-af2", "groups": ["--no-group", "airflow3", "--group", "airflow2"]},
    "bench": {"venv": ".venv-bench", "groups": ["--group", "bench"]},
}


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def uv() -> list[str]:
    if shutil.which("uv"):
        return ["uv"]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False)
    if probe.returncode != 0:
        run([sys.executable, "-m", "pip", "install", "--quiet", "uv"])
    return [sys.executable, "-m", "uv"]


def sync(line: str) -> Path:
    """Install the locked environment of one Airflow line; returns its Python."""
    spec = LINES[line]
    env = {"UV_PROJECT_ENVIRONMENT": str(ROOT / spec["venv"])}
    run([*uv(), "sync", "--frozen", "--python", "3.11", *spec["groups"]], env=env)
    return ROOT / spec["venv"] / "bin" / "python"


def python_of(line: str) -> str:
    return str(sync(line))


def demo() -> None:
    run([python_of("3"), "-m", "demo"])


def test(lines: list[str]) -> None:
    for line in lines:
        print(f"\n=== tests on Airflow line {line} ===", flush=True)
        run([python_of(line), "-m", "pytest", "-p", "no:cacheprovider", *sys.argv[3:]])


def lint() -> None:
    python = python_of("3")
    run([python, "-m", "ruff", "check", "."])
    run([python, "-m", "ruff", "format", "--check", "."])
    run([python, "-m", "mypy"])


def bench() -> None:
    run([python_of("bench"), "-m", "benchmarks"])


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command == "demo":
        demo()
    elif command == "test":
        wanted = sys.argv[2] if len(sys.argv) > 2 else "all"
        test(["3", "2"] if wanted == "all" else [wanted])
    elif command == "lint":
        lint()
    elif command == "bench":
        bench()
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
