"""i) A ``@task.saturn`` function outlives the worker that started it; the retry re-attaches and returns its value.

DAG ``e2e_saturn_task_reattach``: one sync ``@task.saturn`` task (``retries=1``) whose function sleeps 60 s and
returns ``{"x": 7, "square": 49}``, run by the Saturn emulator in runner mode (its job's command runs for real,
as a process of the emulator, not of the worker).

The worker running the task is killed (SIGKILL to its whole tree) a few seconds into the run. Expected: the
function's process goes on (it is Saturn's, not the worker's); the retry runs on the other worker, finds the
task instance's job by name and the run the first try started (recorded in Airflow 3.3's task state store
before the wait), re-attaches to it and returns the value from that run's log. Saturn saw one job created and
one start; the job has one run, completed, whose log says the function started once; the task's
``return_value`` XCom (read through the REST API) is the function's value.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment, component_of
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import (
    describe_tries,
    kill_worker_running,
    requests_summary,
    run_id,
    stored,
    task_log_text,
    wait_retry_elsewhere,
)
from e2e.waiting import wait_for

KEY = "i"
TITLE = "@task.saturn worker killed; retry re-attaches"
DAG = "e2e_saturn_task_reattach"
TASK = "slow_square"
RUN_SECONDS = 60  # as in the DAG
EXPECTED = {"x": 7, "square": 49}
STARTED_LINE = f"slow_square started: 7 squared in {RUN_SECONDS}s"
CREATE, START = "POST /api/jobs", "POST /api/jobs/{id}/start"
ROUTES = [CREATE, START, "PATCH /api/jobs/{id}", "DELETE /api/jobs/{id}", "POST /api/jobs/{id}/stop"]
REATTACHED = "Re-attaching to run"


def run(deployment: Deployment, evidence: Evidence) -> None:
    api = deployment.api
    saturn = deployment.runner_emulator()
    run = api.trigger(DAG, run_id("saturn-task-reattach"))
    evidence.note(f"run {DAG}/{run}; the function runs {RUN_SECONDS}s in the runner emulator at {saturn.url}")

    # Kill the worker a few seconds into the run: the function's process is the emulator's and goes on.
    wait_for(lambda: count(saturn.stats(), START) >= 1, timeout=120, interval=0.2, what=f"{TASK} to start its job")
    time.sleep(3)  # a few polls into the wait
    victim = kill_worker_running(deployment, evidence, DAG, run, TASK, "while its function ran on Saturn")
    wait_retry_elsewhere(deployment, evidence, DAG, run, TASK, victim)
    final = api.wait_task(DAG, run, TASK, {"success", "failed"}, timeout=RUN_SECONDS + 120, try_number=2)
    deployment.wait_worker_ready(victim, timeout=120)

    tries, text = describe_tries(deployment, DAG, run, TASK)
    evidence.check(
        final["state"] == "success" and len(tries) == 2 and component_of(tries[0]["hostname"]) == victim,
        f"{TASK}: {text}",
    )
    value = stored(api.xcom(DAG, run, TASK, "return_value"))
    evidence.check(value == EXPECTED, f"the task's return_value XCom (REST): {value!r}")

    stats = saturn.stats()
    evidence.note(f"Saturn (runner emulator) requests: {requests_summary(stats, ROUTES)}")
    with saturn.client() as client:
        jobs = client.list_jobs()
        runs = client.list_job_runs(jobs[0]["id"]) if len(jobs) == 1 else []
        lines = (
            [str(line.get("content")) for line in client.job_logs(jobs[0]["id"], runs[0]["run_name"])] if runs else []
        )
    evidence.check(
        count(stats, CREATE) == 1 and count(stats, START) == 1 and len(jobs) == 1,
        f"Saturn saw {count(stats, CREATE)} job create(s) and {count(stats, START)} start(s); "
        f"jobs: {[job['name'] for job in jobs]}",
    )
    evidence.check(
        [r["status"] for r in runs] == ["completed"] and lines.count(STARTED_LINE) == 1,
        f"the job's runs: {[(r['run_name'], r['status']) for r in runs]}; the function started "
        f"{lines.count(STARTED_LINE)} time(s) in its log",
    )
    followed = api.xcom(DAG, run, TASK, "run_name")
    said = REATTACHED in task_log_text(deployment, DAG, run, TASK, 2)
    evidence.check(
        bool(runs) and followed == runs[0]["run_name"] and said,
        f"try 2 followed run {followed} (the first try's), its log says {REATTACHED!r}: {said}",
    )
