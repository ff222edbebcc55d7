"""h) A Saturn job run outlives the worker that started it; later a user clears the finished task.

DAG ``e2e_job_reattach``: one sync ``SaturnRunJobOperator`` (``retries=1``) of a job whose run takes 35 s.

1. The worker running the task is killed (SIGKILL to its whole tree) a few seconds into the run. Expected: the
   retry runs on the other worker and follows the run the first try started (recorded in Airflow 3.3's task
   state store before the wait): Saturn gets one start, the job has one run, and it completes.
2. The user then clears the finished task (REST, as "Clear" in the UI), after the job's command was changed.
   Expected: the task runs the job again, since a completed run is the answer to Airflow's own retry but not to a
   user's clear: Saturn gets a second start, the job ends with two completed runs, and the task's ``run_name``
   XCom names the new one, whose log has the new command's output.
"""

from __future__ import annotations

import time

from e2e.deployment import Deployment, component_of
from e2e.emulator import count
from e2e.evidence import Evidence
from e2e.scenarios.common import describe_tries, kill_worker_running, run_id, wait_retry_elsewhere
from e2e.waiting import wait_for

KEY = "h"
TITLE = "job run re-attached; cleared task runs again"
DAG = "e2e_job_reattach"
TASK = "run_job"
RUN_SECONDS = 35  # long enough to outlast the kill and the heartbeat timeout
START = "POST /api/jobs/{id}/start"


def run(deployment: Deployment, evidence: Evidence) -> None:
    api, saturn = deployment.api, deployment.emulator
    saturn.reset()
    with saturn.client() as client:
        job = client.create_job("e2e-job-reattach", f"echo first; sleep {RUN_SECONDS}; echo finished")
    run = api.trigger(DAG, run_id("job-reattach"), conf={"job_id": job["id"]})
    evidence.note(f"run {DAG}/{run}; job {job['id']}, a run takes {RUN_SECONDS}s")

    # 1. Kill the worker a few seconds into the run; Airflow's retry must follow that run.
    wait_for(lambda: count(saturn.stats(), START) >= 1, timeout=120, interval=0.2, what=f"{TASK} to start the job")
    time.sleep(3)  # a few polls into the wait
    victim = kill_worker_running(deployment, evidence, DAG, run, TASK, "while the job run it started went on")
    wait_retry_elsewhere(deployment, evidence, DAG, run, TASK, victim)
    first = api.wait_task(DAG, run, TASK, {"success", "failed"}, timeout=RUN_SECONDS + 120, try_number=2)
    deployment.wait_worker_ready(victim, timeout=120)
    with saturn.client() as client:
        runs = client.list_job_runs(job["id"])
    tries, text = describe_tries(deployment, DAG, run, TASK)
    evidence.check(
        first["state"] == "success" and len(tries) == 2 and component_of(tries[0]["hostname"]) == victim,
        f"{TASK}: {text}",
    )
    starts = count(saturn.stats(), START)
    evidence.check(
        starts == 1 and [r["status"] for r in runs] == ["completed"],
        f"the retry followed the first try's run: Saturn got {starts} start(s); the job's "
        f"runs: {[(r['run_name'], r['status']) for r in runs]}",
    )
    followed = api.xcom(DAG, run, TASK, "run_name")
    evidence.check(
        len(runs) == 1 and followed == runs[0]["run_name"], f"try 2 returned run {followed} (the first try's)"
    )

    # 2. A user changes the job and clears the finished task: it must run again, not return the old run.
    with saturn.client() as client:
        client.update_job(job["id"], command="echo second")
    api.clear_task(DAG, run, TASK)
    again = api.wait_task(DAG, run, TASK, {"success", "failed"}, timeout=180, try_number=3)
    with saturn.client() as client:
        runs = client.list_job_runs(job["id"])
        newest = api.xcom(DAG, run, TASK, "run_name")
        lines = [line.get("content") for line in client.job_logs(job["id"], newest)] if newest else []
    evidence.check(
        again["state"] == "success" and again["try_number"] == 3,
        f"after the clear: try {again['try_number']} {again['state']} on {component_of(again['hostname'])}",
    )
    starts = count(saturn.stats(), START)
    evidence.check(
        starts == 2
        and sorted(r["status"] for r in runs) == ["completed", "completed"]
        and newest != followed
        and "second" in lines,
        f"the cleared task ran the job again: Saturn got {starts} starts; runs "
        f"{[(r['run_name'], r['status']) for r in runs]}; try 3 returned {newest}, whose log is {lines}",
    )
