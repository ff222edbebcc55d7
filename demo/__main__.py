"""The demo: start the Saturn emulator (its Dask clusters real: a ``distributed`` scheduler and workers on this
machine, mutual TLS), run ``saturn_workspace_before_job`` under ``airflow dags test`` on SQLite, whose
``@task.saturn_dask`` step computes on the project's cluster, and print each task's outcome, the computed
total and what the emulator's resources ended as. Then the same for
``saturn_job_pipeline``, whose deployment is first created in the emulator through its HTTP API, and whose
run fails by design (one of its jobs fails on purpose, to show a failed run with its log). Last,
``saturn_python_tasks`` (``@task.saturn``) against a second emulator in runner mode, which runs each job's
command for real on this machine: each function runs as a process, and the demo prints every task's return
value.

The demo exits 0 when each DAG ended exactly as designed.

    python dev.py demo        (or, in the project's environment: python -m demo)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".demo-airflow"
DAG_ID = "saturn_workspace_before_job"
JOB_DAG_ID = "saturn_job_pipeline"
PYTHON_DAG_ID = "saturn_python_tasks"
DEPLOYMENT = "features-api"  # what saturn_job_pipeline starts and stops; Saturn must have it beforehand
TOKEN = "demo-token"
# saturn_job_pipeline's tasks in the order they run, and how each ends by design: its second job fails on
# purpose, the deployment is stopped all the same, and the watcher task fails the DAG run.
JOB_PIPELINE_DESIGN = {
    "create_or_update_job": "success",
    "create_failing_job": "success",
    "start_deployment": "success",
    "run_job": "success",
    "run_failing_job": "failed",
    "stop_deployment": "success",
    "fail_run_if_a_step_failed": "failed",
}
# saturn_python_tasks's task instances ((task id, map index) in the order they run) and what each returns.
PYTHON_TASKS_DESIGN: dict[tuple[str, int], Any] = {
    ("load_readings", -1): [12.5, 14.0, 11.25, 15.5, 13.75],
    ("summarise", -1): {"count": 5, "mean": 13.4, "high": 15.5},
    ("report", -1): "5 readings, mean 13.40, high 15.5",
    ("train", 0): {"learning_rate": 0.1, "loss": 1.05},
    ("train", 1): {"learning_rate": 0.01, "loss": 0.05},
    ("train", 2): {"learning_rate": 0.001, "loss": 1.05},
    ("pick_best", -1): {"learning_rate": 0.01, "loss": 0.05},
}
# The first emulator's Dask clusters are real (schedulers and workers on 127.0.0.1): bounded.
DASK_OPTIONS = ("--real-dask", "--max-dask-processes", "6")
# The runner emulator runs what a job's command says, as processes of this machine: bounded.
RUNNER_OPTIONS = ("--run-commands", "--max-processes", "4", "--max-run-seconds", "300")

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


def start_emulator(*options: str, transition_seconds: float = 3) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "airflow_provider_saturn.emulator", "--token", TOKEN]
    command += ["--transition-seconds", str(transition_seconds), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("Saturn emulator serving at "):
        process.kill()
        sys.exit(f"The Saturn emulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


def airflow(*args: str, log: Path | None = None, env: dict[str, str] | None = None) -> int:
    """``airflow <args>`` with its output in ``log``; ``env`` adds to (or replaces) variables of this process's."""
    with open(log, "w") if log else open(os.devnull, "w") as sink:
        command = [sys.executable, "-m", "airflow", *args]
        completed = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    return completed.returncode


def saturn_connection(url: str) -> str:
    """``AIRFLOW_CONN_SATURN_DEFAULT`` for the emulator at ``url``."""
    return json.dumps({"conn_type": "saturn", "host": url, "password": TOKEN})


def stop_emulator(process: subprocess.Popen[str]) -> None:
    """SIGTERM (the emulator ends its pods' processes on it), then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def emulator_api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the emulator: its Saturn API (with the token) or its test controls (``/_emulator``)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"token {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def state_of(value: Any) -> str:
    """A task or DAG run state as plain text, on both Airflow lines."""
    return str(getattr(value, "value", value))


def report(url: str) -> bool:
    """Print each task's outcome of the latest run and the emulator's resources; True if the run succeeded."""
    from airflow.models import DagRun

    from airflow_provider_saturn.client import SaturnClient

    (dag_run,) = DagRun.find(dag_id=DAG_ID)
    print(f"\nDAG run {dag_run.run_id}: {dag_run.state}")
    order = [
        "create_or_reuse_project",
        "start_jupyter",
        "start_dask",
        "total_of_features",
        "check_total",
        "stop_dask",
        "stop_jupyter",
    ]
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    for task_id in [*order, *sorted(set(instances) - set(order))]:
        ti = instances[task_id]
        seconds = f"{ti.duration:5.1f}s" if ti.duration is not None else "     -"
        print(f"  {task_id:<28} {ti.state!s:<10} {seconds}")
    computed = instances["total_of_features"].xcom_pull(task_ids="total_of_features")
    print(f"\nComputed on the project's Dask cluster (real workers, mutual TLS): {computed}")
    client = SaturnClient(url=url, api_token=TOKEN)
    print("\nSaturn emulator afterwards:")
    for project in client.list_projects():
        cluster = client.get_dask_cluster(project["dask_cluster_id"])["status"] if project["dask_cluster_id"] else "-"
        print(f"  project {project['name']} ({project['id']}): Jupyter {project['status']}, Dask cluster {cluster}")
    return str(dag_run.state) == "success"


def run_log_lines(log: Path, run_name: str | None = None) -> list[str]:
    """The lines of a job run's log that reached the task log (``[<pod>] <content>``, pods ``<run name>-*``);
    without a run name, the lines of every run."""
    pod = rf"{re.escape(run_name)}-\w+" if run_name else r"job-[\w-]+"
    pattern = re.compile(rf"(\[{pod}\] .*?)\s+\[[\w.]+\]\s+loc=run_logs\.py")
    return [found.group(1) for line in log.read_text(errors="replace").splitlines() if (found := pattern.search(line))]


def failure_of(log: Path, task_id: str) -> list[str]:
    """The failing job run's error as ``airflow dags test`` logged it: Saturn's message and the log's tail."""
    lines = log.read_text(errors="replace").splitlines()
    for index, line in enumerate(lines):
        found = re.search(r"SaturnResourceError: (Saturn job run .*)", line)
        if found:
            tail = []
            for following in lines[index + 1 :]:
                if not (following.startswith("Last ") or following.startswith("[job-")):
                    break
                tail.append(following)
            return [found.group(1), *tail]
    return [f"(no job run error of {task_id} found in {log})"]


def report_job_pipeline(url: str, log: Path) -> bool:
    """Print each task's outcome of saturn_job_pipeline's run, the failing task's error, the jobs' runs and the
    deployment; True if everything ended as designed (the DAG run itself fails, on purpose)."""
    from airflow.models import DagRun

    from airflow_provider_saturn.client import SaturnClient

    (dag_run,) = DagRun.find(dag_id=JOB_DAG_ID)
    print(f"\nDAG run {dag_run.run_id}: {state_of(dag_run.state)}")
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    outcomes = {task_id: state_of(ti.state) for task_id, ti in instances.items()}
    for task_id in [*JOB_PIPELINE_DESIGN, *sorted(set(instances) - set(JOB_PIPELINE_DESIGN))]:
        ti = instances.get(task_id)
        outcome = outcomes.get(task_id, "missing")
        seconds = f"{ti.duration:5.1f}s" if ti is not None and ti.duration is not None else "     -"
        designed = JOB_PIPELINE_DESIGN.get(task_id)
        note = "" if outcome == designed else f"   <- designed to end {designed}"
        if outcome == designed == "failed":
            note = "   (by design)"
        print(f"  {task_id:<28} {outcome:<10} {seconds}{note}")
    with SaturnClient(url=url, api_token=TOKEN) as client:
        runs = {job["name"]: client.list_job_runs(job["id"]) for job in client.list_jobs()}
        deployment = client.find_deployment_by_name(DEPLOYMENT)
    good_runs = runs.get("features-refresh", [])
    if good_runs:
        print("\nThe run's log in run_job's task log:")
        for line in run_log_lines(log, good_runs[-1]["run_name"]):
            print(f"  {line}")
    print("\nThe error of run_failing_job (Saturn's message, then the last lines of the run's log):")
    for line in failure_of(log, "run_failing_job"):
        print(f"  {line}")
    print("\nSaturn emulator afterwards:")
    for name, job_runs in runs.items():
        listed = ", ".join(f"{run['run_name']} {run['status']}" for run in job_runs)
        print(f"  job {name}: {listed or 'no runs'}")
    print(f"  deployment {DEPLOYMENT}: {deployment['status'] if deployment else 'missing'}")
    stopped = deployment is not None and deployment["status"] == "stopped"
    statuses = {name: [run["status"] for run in job_runs] for name, job_runs in runs.items()}
    one_run_each = statuses == {"features-refresh": ["completed"], "features-validate": ["error"]}
    as_designed = outcomes == JOB_PIPELINE_DESIGN and state_of(dag_run.state) == "failed" and stopped and one_run_each
    if as_designed:
        print(
            f"\nThe {JOB_DAG_ID} run failed, as designed: run_failing_job runs a job that fails on purpose, "
            "its task failed with Saturn's message and the log's last lines, the deployment was stopped all "
            "the same, and the watcher task marked the run failed."
        )
    return as_designed


def run_job_pipeline(url: str) -> bool:
    """Create the deployment saturn_job_pipeline needs (the provider has no operator for that), then run it."""
    emulator_api(url, "POST", "/_emulator/config", {"transition_seconds": 1})  # job runs and starts: 1 s
    emulator_api(url, "POST", "/api/deployments", {"name": DEPLOYMENT, "command": "python -m http.server 8000"})
    print(f"\nCreated the deployment {DEPLOYMENT!r} in the emulator (through its HTTP API)")
    log = HOME / "dags-test-job-pipeline.log"
    print(f"Running: airflow dags test {JOB_DAG_ID}  (log: {log})", flush=True)
    airflow("dags", "test", JOB_DAG_ID, log=log)  # its exit status is not looked at: the run fails by design
    return report_job_pipeline(url, log)


def report_python_tasks(url: str, log: Path) -> bool:
    """Print each task instance's outcome and return value of saturn_python_tasks's run, what the functions
    printed, and the jobs left in Saturn; True if every one succeeded with the value designed and no job was
    left (a successful run's job is deleted)."""
    from airflow.models import DagRun

    from airflow_provider_saturn.client import SaturnClient

    (dag_run,) = DagRun.find(dag_id=PYTHON_DAG_ID)
    print(f"\nDAG run {dag_run.run_id}: {state_of(dag_run.state)}")
    instances = {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}
    as_designed = set(instances) == set(PYTHON_TASKS_DESIGN) and state_of(dag_run.state) == "success"
    for key, designed in PYTHON_TASKS_DESIGN.items():
        ti = instances.get(key)
        task_id, map_index = key
        name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        if ti is None:
            print(f"  {name:<16} missing")
            continue
        value = ti.xcom_pull(task_ids=task_id, key="return_value", map_indexes=map_index)
        outcome = state_of(ti.state)
        as_designed = as_designed and outcome == "success" and value == designed
        note = "" if value == designed else f"   <- designed to return {designed!r}"
        print(f"  {name:<16} {outcome:<10} returned {value!r}{note}")
    print("\nWhat the functions printed on Saturn (from their runs' logs, in the task logs):")
    for line in run_log_lines(log):
        print(f"  {line}")
    with SaturnClient(url=url, api_token=TOKEN) as client:
        jobs = client.list_jobs()
    print(f"\nSaturn emulator (runner mode) afterwards: {len(jobs)} job(s) left (a successful run's job is deleted)")
    for job in jobs:
        print(f"  job {job['name']} ({job['id']})")
    return as_designed and not jobs


def run_python_tasks() -> bool:
    """Run saturn_python_tasks against a second emulator, in runner mode: each function runs as a process."""
    runner, url = start_emulator(*RUNNER_OPTIONS, transition_seconds=1)
    print(f"\nSaturn emulator in runner mode (job commands run as processes here) serving at {url}")
    try:
        log = HOME / "dags-test-python-tasks.log"
        print(f"Running: airflow dags test {PYTHON_DAG_ID}  (log: {log})", flush=True)
        code = airflow(
            "dags", "test", PYTHON_DAG_ID, log=log, env={"AIRFLOW_CONN_SATURN_DEFAULT": saturn_connection(url)}
        )
        return report_python_tasks(url, log) and code == 0
    finally:
        stop_emulator(runner)


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    emulator, url = start_emulator(*DASK_OPTIONS)
    print(f"Saturn emulator (real Dask clusters on this machine) serving at {url}")
    try:
        os.environ["AIRFLOW_CONN_SATURN_DEFAULT"] = saturn_connection(url)
        print("Preparing the Airflow metadata database (SQLite)...", flush=True)
        if airflow("db", "migrate", log=HOME / "db-migrate.log") != 0:
            sys.exit(f"airflow db migrate failed; see {HOME / 'db-migrate.log'}")
        print(f"Running: airflow dags test {DAG_ID}  (log: {HOME / 'dags-test.log'})", flush=True)
        code = airflow("dags", "test", DAG_ID, log=HOME / "dags-test.log")
        succeeded = report(url)
        if code != 0 or not succeeded:
            sys.exit(f"\nThe DAG run did not succeed; see {HOME / 'dags-test.log'}")
        print(f"\n{DAG_ID} ran end to end against the Saturn emulator.")
        if not run_job_pipeline(url):
            sys.exit(f"\n{JOB_DAG_ID} did not end as designed; see {HOME / 'dags-test-job-pipeline.log'}")
        if not run_python_tasks():
            sys.exit(f"\n{PYTHON_DAG_ID} did not end as designed; see {HOME / 'dags-test-python-tasks.log'}")
    finally:
        stop_emulator(emulator)
    print("\nThe three DAGs ended as designed against the Saturn emulator.")


if __name__ == "__main__":
    main()
