"""The run: bring the deployment up, run the chosen scenarios one after the other, print the table, tear down.

Teardown happens whatever happens: a failed scenario, an error, Ctrl-C, SIGTERM, SIGHUP or the overall time
limit (SIGALRM) all end in ``Deployment.down()``, which stops every process the harness started and sweeps
up anything they left (the harness is their subreaper). An ``atexit`` hook is the last line of defence.
Component and task logs are copied to ``.e2e-logs/<time>/`` when a scenario fails or with ``--keep-logs``.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

from e2e.airflow_env import ROOT
from e2e.deployment import COMPONENTS, WORKERS, Deployment
from e2e.evidence import Evidence, ScenarioFailed
from e2e.processes import Processes
from e2e.report import ScenarioResult, render_markdown, render_table
from e2e.scenarios import QUICK, SCALE, Scenario, select
from e2e.waiting import wait_for

KEPT_LOGS = ROOT / ".e2e-logs"
TIME_LIMIT = 25 * 60
"""The whole run, set-up and teardown included, is stopped after this many seconds (the budget is 15 minutes)."""
SCALE_TIME = 15 * 60
"""Added to the limit when the 500-sensor measurement runs."""


class Interrupted(BaseException):
    """A signal asked the run to stop (a ``BaseException``, so that no scenario's ``except Exception`` eats it)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with ``scenarios``: the scenarios to run, in order. ``--scale`` adds the 500-sensor
    measurement to whatever else is chosen, ``--only`` included; ``--quick`` with ``--only`` (two choices of
    the same scenarios) and unknown keys are refused with a message (exit code 2)."""
    parser = argparse.ArgumentParser(prog="python -m e2e", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only the quick subset ({', '.join(QUICK)})")
    parser.add_argument("--only", help="comma-separated scenario keys, in the order given (e.g. a,f)")
    parser.add_argument(
        "--scale", action="store_true", help="also measure 500 deferred sensors in one triggerer (with --only too)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the logs even when every scenario passes")
    args = parser.parse_args(argv)
    args.scenarios = _chosen(parser, args)
    return args


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Scenario]:
    """The scenarios the arguments choose; ``parser.error`` (which exits) for a choice that cannot be run."""
    if args.only is None:
        return select(None, args.quick, args.scale)
    if args.quick:
        parser.error("--quick and --only both choose the scenarios: give one of them")
    keys = [key.strip() for key in args.only.split(",") if key.strip()]
    if not keys:
        parser.error(f"--only {args.only!r} names no scenario")
    try:
        chosen = select(keys, quick=False, scale_run=False)
    except ValueError as error:
        parser.error(str(error))
    if args.scale and SCALE.key not in keys:
        chosen.append(SCALE)
    return chosen


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    raise Interrupted("the overall time limit was reached" if signum == signal.SIGALRM else f"received {name}")


HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)


def run_scenario(deployment: Deployment, scenario: Scenario, results: list[ScenarioResult]) -> None:
    """Run one scenario and append its result; whatever it raises becomes its result (an interruption is
    recorded with the evidence so far, then goes on up)."""
    evidence = Evidence()
    error = None
    deployment.say(f"scenario {scenario.key}) {scenario.title}")
    try:
        scenario.run(deployment, evidence)
    except ScenarioFailed:
        pass  # already in evidence.failures
    except Interrupted as stop:
        error = f"interrupted: {stop}"
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        trace = deployment.log_dir / f"scenario-{scenario.key}-traceback.txt"
        trace.write_text(traceback.format_exc())
    finally:
        if error is None or not error.startswith("interrupted"):
            try:
                deployment.emulator.faults()  # no scenario leaves Saturn down for the next one
            except Exception as exc:
                evidence.note(f"could not clear the emulator's faults: {exc}")
        result = ScenarioResult(
            key=scenario.key,
            title=scenario.title,
            passed=not evidence.failures and error is None,
            seconds=evidence.elapsed(),
            evidence=evidence.lines,
            failures=evidence.failures,
            error=error,
        )
        results.append(result)
        deployment.say(f"scenario {scenario.key}) {result.result} in {result.seconds:.0f}s")


def heal(deployment: Deployment) -> list[str]:
    """Leave the deployment as the next scenario expects it, whatever this one left: fail any run still going
    (a scenario that failed half-way may leave one, whose waits would go on polling Saturn and add to the next
    scenario's counts), wait until no Saturn trigger is left, and start again any component left stopped.
    Returns what was done."""
    done = []
    for dag_id, run in deployment.api.unfinished_runs():
        deployment.api.set_run_state(dag_id, run, "failed")
        done.append(f"marked {dag_id}/{run} failed")
    restarted = [name for name in COMPONENTS if not deployment.running(name)]
    for name in restarted:
        deployment.start(name)
    for name in restarted:
        if name in WORKERS:
            deployment.wait_worker_ready(name, timeout=180)
    if restarted:
        deployment.api.wait_healthy(timeout=180, components=("scheduler", "triggerer", "dag_processor"))
        done.append(f"restarted {restarted}")
    wait_for(
        lambda: deployment.db.count_triggers()[0] == 0,
        timeout=120,
        interval=1,
        what="the Saturn triggers of earlier runs to be gone",
    )
    if done:
        deployment.say(f"before the next scenario: {'; '.join(done)}")
    return done


def keep_logs(deployment: Deployment, report: str) -> Path:
    """Copy the component and task logs (and the report) to ``.e2e-logs/<time>/``; returns the directory."""
    destination = KEPT_LOGS / time.strftime("%Y%m%d-%H%M%S")
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copytree(deployment.log_dir, destination / "components", dirs_exist_ok=True)
    if deployment.settings.logs.exists():
        shutil.copytree(deployment.settings.logs, destination / "tasks", dirs_exist_ok=True)
    (destination / "report.md").write_text(report)
    return destination


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios: list[Scenario] = args.scenarios
    work = Path(tempfile.mkdtemp(prefix="saturn-e2e-"))
    work.chmod(0o755)  # Postgres runs as its own user under root, and must reach its directory
    processes = Processes()
    atexit.register(processes.stop_all, 5.0)  # a no-op after a normal teardown
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in HANDLED}
    signal.alarm(TIME_LIMIT + (SCALE_TIME if SCALE in scenarios else 0))
    started = time.monotonic()
    deployment = Deployment(work, processes)
    deployment.say(f"working in {work}; scenarios {', '.join(s.key for s in scenarios)}")
    results: list[ScenarioResult] = []
    problem: str | None = None
    try:
        deployment.up()
        for scenario in scenarios:
            run_scenario(deployment, scenario, results)
            heal(deployment)
    except Interrupted as stop:
        problem = f"interrupted: {stop}"
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        (deployment.log_dir / "harness-traceback.txt").write_text(traceback.format_exc())
    finally:
        signal.alarm(0)
        for signum in HANDLED:  # teardown must not be interrupted half-way
            signal.signal(signum, signal.SIG_IGN)
        deployment.say("tearing down")
        leftovers = deployment.down()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    total = time.monotonic() - started
    ran = {result.key for result in results}
    for scenario in scenarios:
        if scenario.key not in ran:
            results.append(ScenarioResult(scenario.key, scenario.title, False, 0.0, error=problem or "not run"))
    table = render_table(results)
    print("\n" + table, flush=True)
    ok = all(result.passed for result in results) and problem is None
    summary = f"total {total:.0f}s (set-up, {len(results)} scenarios, teardown)"
    if problem:
        summary += f"; the run stopped: {problem}"
    if leftovers:
        summary += f"; processes left after the stops, then killed: {leftovers}"
    print(summary, flush=True)
    report = render_markdown(results, f"e2e run of {time.strftime('%Y-%m-%d %H:%M:%S')}: {summary}")
    if not ok or args.keep_logs:
        kept = keep_logs(deployment, report)
        print(f"logs (components, tasks, report.md): {kept}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
