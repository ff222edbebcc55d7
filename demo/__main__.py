"""The demo: start the Saturn emulator, run ``saturn_workspace_before_job`` under ``airflow dags test`` on
SQLite, and print each task's outcome and what the emulator's resources ended as.

    python dev.py demo        (or, in the project's environment: python -m demo)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".demo-airflow"
DAG_ID = "saturn_workspace_before_job"
TOKEN = "demo-token"

# A private Airflow home on SQLite, set before anything imports Airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "SATURN_EXAMPLE_POLL_INTERVAL": "1",
    }
)


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "airflow_provider_saturn.emulator", "--token", TOKEN, "--transition-seconds", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("Saturn emulator serving at "):
        process.kill()
        sys.exit(f"The Saturn emulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


def airflow(*args: str, log: Path | None = None) -> int:
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        completed = subprocess.run([sys.executable, "-m", "airflow", *args], stdout=sink, stderr=subprocess.STDOUT)
    return completed.returncode


def report(url: str) -> bool:
    """Print each task's outcome of the latest run and the emulator's resources; True if the run succeeded."""
    from airflow.models import DagRun

    from airflow_provider_saturn.client import SaturnClient

    (dag_run,) = DagRun.find(dag_id=DAG_ID)
    print(f"\nDAG run {dag_run.run_id}: {dag_run.state}")
    order = ["create_or_reuse_project", "start_jupyter", "start_dask", "run_job", "stop_dask", "stop_jupyter"]
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    for task_id in [*order, *sorted(set(instances) - set(order))]:
        ti = instances[task_id]
        seconds = f"{ti.duration:5.1f}s" if ti.duration is not None else "     -"
        print(f"  {task_id:<28} {ti.state!s:<10} {seconds}")
    client = SaturnClient(url=url, api_token=TOKEN)
    print("\nSaturn emulator afterwards:")
    for project in client.list_projects():
        cluster = client.get_dask_cluster(project["dask_cluster_id"])["status"] if project["dask_cluster_id"] else "-"
        print(f"  project {project['name']} ({project['id']}): Jupyter {project['status']}, Dask cluster {cluster}")
    return str(dag_run.state) == "success"


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    emulator, url = start_emulator()
    print(f"Saturn emulator serving at {url}")
    try:
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = json.dumps({"conn_type": "saturn", "host": url, "password": TOKEN})
        print("Preparing the Airflow metadata database (SQLite)...", flush=True)
        if airflow("db", "migrate", log=HOME / "db-migrate.log") != 0:
            sys.exit(f"airflow db migrate failed; see {HOME / 'db-migrate.log'}")
        print(f"Running: airflow dags test {DAG_ID}  (log: {HOME / 'dags-test.log'})", flush=True)
        code = airflow("dags", "test", DAG_ID, log=HOME / "dags-test.log")
        succeeded = report(url)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    if code != 0 or not succeeded:
        sys.exit(f"\nThe DAG run did not succeed; see {HOME / 'dags-test.log'}")
    print("\nThe DAG ran end to end against the Saturn emulator.")


if __name__ == "__main__":
    main()
