"""Fast checks of the e2e harness's own pieces (no deployment): process teardown, the configuration's loopback-only
promise, the scenario selection, the report, and dev.py's system package check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import dev
from e2e import airflow_env, hostname
from e2e.deployment import COMPONENTS, Deployment, component_of, hostname_of
from e2e.evidence import Evidence, ScenarioFailed
from e2e.metadb import find_value
from e2e.processes import Processes, descendants, process_table, read_stat
from e2e.report import ScenarioResult, render_markdown, render_table
from e2e.scenarios import QUICK, SCENARIOS, select
from e2e.waiting import GiveUp, WaitTimeout, wait_for

ROOT = Path(__file__).resolve().parents[1]
# A process that starts a child in a process group of its own (as Airflow's task supervisor does) and a
# grandchild that it then orphans (double fork): teardown must find and end all of them.
FAMILY = textwrap.dedent(
    """
    import os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgid(0, 0); time.sleep(300)"])
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    print("started", flush=True)
    time.sleep(300)
    """
)

# A process whose child leaves its session (``setsid``): once the process dies, only the subreaper finds that child.
ESCAPER = textwrap.dedent(
    """
    import subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    print("started", flush=True)
    time.sleep(300)
    """
)


def alive(pids: set[int]) -> set[int]:
    return pids & set(process_table())


def printed(log: Path, line: str) -> bool:
    """Whether the child wrote ``line`` (the log's first line is the harness's, with the command in it)."""
    return line in log.read_text().splitlines()[1:]


def test_read_stat_takes_names_with_spaces_and_parentheses():
    info = read_stat("4242 (odd) name (x)) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0")
    assert (info.pid, info.ppid, info.session, info.state, info.name) == (4242, 1, 4242, "S", "odd) name (x)")


def test_descendants_follow_parent_links():
    me = os.getpid()
    table = process_table()
    assert me in table and me not in descendants(me, table)


def test_a_child_is_killed_with_its_whole_tree(tmp_path: Path):
    child = Processes(subreaper=False).start("family", [sys.executable, "-c", FAMILY], log_path=tmp_path / "f.log")
    wait_for(lambda: printed(tmp_path / "f.log", "started"), timeout=30, what="the family to start")
    time.sleep(0.5)
    tree = child.tree()
    assert len(tree) >= 3  # the leader, its child in another process group, the orphaned grandchild
    killed = child.kill()
    assert tree <= set(killed)
    assert not alive(tree)


def test_the_harness_stops_every_child_and_sweeps_what_they_left(tmp_path: Path):
    """In a process of its own, as the harness: it is the subreaper, and every descendant it has is its own."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from e2e.processes import Processes, descendants, process_table
        from e2e.waiting import wait_for
        processes = Processes()
        log = Path({str(tmp_path / "family.log")!r})
        first = processes.start("family", [sys.executable, "-c", {FAMILY!r}], log_path=log)
        escaper = processes.start("escaper", [sys.executable, "-c", {ESCAPER!r}], log_path=log.with_name("e.log"))
        wait_for(lambda: "started" in log.read_text().splitlines()[1:], timeout=30, what="the family")
        wait_for(lambda: "started" in log.with_name("e.log").read_text().splitlines()[1:], timeout=30, what="it")
        time.sleep(0.5)
        before = descendants(__import__("os").getpid(), process_table())
        import os, signal
        for leader in (first, escaper):  # the leaders die first: their children are orphans now
            os.kill(leader.pid, signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        print("swept:", processes.stop_all(grace=5), flush=True)
        print("descendants before:", len(before), flush=True)
        print("left:", sorted(before & set(process_table())), flush=True)
        print("took:", round(time.monotonic() - started), flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "left: []" in out
    assert "swept: []" not in out  # the escaped child was found by the sweep alone
    assert int(out.split("descendants before:")[1].split()[0]) >= 5
    assert int(out.split("took:")[1].split()[0]) < 30


def test_stop_sends_sigterm_first(tmp_path: Path):
    script = textwrap.dedent(
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
        print("ready", flush=True)
        time.sleep(300)
        """
    )
    log = tmp_path / "term.log"
    child = Processes(subreaper=False).start("term", [sys.executable, "-c", script], log_path=log)
    wait_for(lambda: printed(log, "ready"), timeout=30, what="the child to be ready")
    child.stop(grace=10)
    assert printed(log, "got SIGTERM")
    assert child.popen.returncode == 0


def test_wait_for_is_bounded_and_gives_up_at_once():
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="waiting for nothing; last error: ValueError: not yet"):
        wait_for(lambda: (_ for _ in ()).throw(ValueError("not yet")), timeout=0.3, interval=0.05, what="nothing")
    assert time.monotonic() - started < 2

    def dead() -> bool:
        raise GiveUp("the process died")

    with pytest.raises(GiveUp):
        wait_for(dead, timeout=60, what="a dead process")


def test_the_configuration_listens_on_loopback_only(tmp_path: Path):
    settings = airflow_env.AirflowSettings(
        home=tmp_path,
        api_port=8080,
        database_url="postgresql+psycopg2://airflow@127.0.0.1:5432/airflow",
        broker_url="redis://127.0.0.1:6379/0",
        saturn_url="http://127.0.0.1:8787",
    )
    env = airflow_env.airflow_env(settings, hostname_of("worker-1"))
    assert env["E2E_HOSTNAME"] == "e2e-worker-1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    ours = {key: value for key, value in env.items() if key.startswith("AIRFLOW")}
    assert not any("0.0.0.0" in value or "localhost" in value for value in ours.values())
    urls = [value for value in ours.values() if "://" in value]
    assert urls and all("127.0.0.1" in url for url in urls)


def test_only_the_api_server_serves_and_only_on_loopback(tmp_path: Path):
    deployment = Deployment(tmp_path, Processes(subreaper=False), say=lambda _: None)
    commands = {name: deployment._command(name) for name in COMPONENTS}
    assert commands["api-server"][commands["api-server"].index("--host") + 1] == "127.0.0.1"
    for name in ("scheduler", "triggerer", "worker-1", "worker-2"):
        assert "--skip-serve-logs" in commands[name]  # their log servers would listen on every interface
    assert component_of(hostname_of("worker-2")) == "worker-2"
    assert component_of(None) == "?"


def test_hostname_callable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("E2E_HOSTNAME", "e2e-triggerer")
    assert hostname.component_hostname() == "e2e-triggerer"
    monkeypatch.delenv("E2E_HOSTNAME")
    assert hostname.component_hostname()


def test_scenario_selection():
    assert [s.key for s in SCENARIOS] == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    assert [s.key for s in select(None, quick=True, scale_run=False)] == list(QUICK)
    assert [s.key for s in select(None, quick=False, scale_run=True)][-1] == "scale"
    assert [s.key for s in select(["f", "a"], quick=False, scale_run=False)] == ["f", "a"]
    with pytest.raises(ValueError, match="unknown scenarios"):
        select(["z"], quick=False, scale_run=False)


def test_evidence_records_every_failed_check_and_stops_on_a_required_one():
    evidence = Evidence()
    evidence.note("a count")
    assert evidence.check(True, "fine") and not evidence.check(False, "broken")
    with pytest.raises(ScenarioFailed):
        evidence.require(False, "needed")
    assert evidence.lines == ["a count", "ok: fine", "FAILED: broken", "FAILED: needed"]
    assert evidence.failures == ["broken", "needed"]


def test_report_table_and_markdown():
    results = [
        ScenarioResult("a", "example DAGs", True, 12.3, ["ok: " + "x" * 250]),
        ScenarioResult("b", "worker killed", False, 0.0, ["FAILED: y | z"], ["y"], error="WaitTimeout: late"),
    ]
    table = render_table(results)
    assert "a) example DAGs" in table and "PASS" in table and "FAIL" in table
    assert "ERROR: WaitTimeout: late" in table and "1 of 2 scenarios passed" in table
    assert max(len(line) for line in table.splitlines()) <= len("b) worker killed") + 18 + 100
    assert "y \\| z" in render_markdown(results, "run")


def test_find_value_digs_through_envelopes():
    kwargs = {"__var": {"deadline": 1234.5, "nested": [{"poll_interval": 2}]}, "__type": "dict"}
    assert find_value(kwargs, "deadline") == 1234.5
    assert find_value(kwargs, "poll_interval") == 2
    assert find_value(kwargs, "missing") is None


def test_dev_py_names_the_missing_system_packages(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dev, "_program_found", lambda program: program != "redis-server")
    assert dev.missing_system_packages() == ["redis-server"]
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit):
        dev.ensure_system_packages()


def test_the_harness_exits_cleanly_on_sigterm(tmp_path: Path):
    """The runner's signal handling: SIGTERM during a scenario ends in teardown, not in a stray process."""
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from e2e.processes import Processes
        from e2e.runner import HANDLED, Interrupted, _raise_interrupted
        for signum in HANDLED:
            signal.signal(signum, _raise_interrupted)
        from pathlib import Path
        processes = Processes()
        sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
        processes.start("sleeper", sleeper, log_path=Path({str(tmp_path / "s.log")!r}))
        try:
            print("ready", flush=True)
            time.sleep(300)
        except Interrupted as stop:
            print("interrupted:", stop, flush=True)
        finally:
            print("left:", processes.stop_all(grace=5), flush=True)
        """
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    assert harness.stdout.readline().strip() == "ready"
    harness.send_signal(signal.SIGTERM)
    out, _ = harness.communicate(timeout=60)
    assert "interrupted: received SIGTERM" in out and "left: []" in out


def test_only_and_scale_run_both_and_contradictions_are_refused(capsys):
    from e2e.runner import parse_args

    def keys(*argv: str) -> list[str]:
        return [scenario.key for scenario in parse_args(list(argv)).scenarios]

    assert keys("--only", "d", "--scale") == ["d", "scale"], "--scale is not dropped by --only"
    assert keys("--only", "d,scale", "--scale") == ["d", "scale"], "asked twice, run once"
    assert keys("--only", "scale") == ["scale"]
    assert keys("--quick", "--scale") == [*QUICK, "scale"]
    assert keys() == [s.key for s in SCENARIOS]
    for argv, said in (
        (["--quick", "--only", "a"], "--quick and --only"),
        (["--only", "d,z"], "unknown scenarios ['z']"),
        (["--only", ","], "no scenario"),
    ):
        with pytest.raises(SystemExit) as stopped:
            parse_args(argv)
        assert stopped.value.code == 2
        assert said in capsys.readouterr().err


def test_the_runner_emulator_is_bounded_on_loopback_and_reached_as_saturn_runner(tmp_path: Path):
    """The deployment's second emulator runs job commands for real: only with its bounds, only on 127.0.0.1,
    and its DAGs reach it as the connection ``saturn_runner``; the first emulator stays scripted."""
    deployment = Deployment(tmp_path, Processes(subreaper=False), say=lambda _: None)
    scripted, runner = deployment.emulator.command(), deployment.runner.command()
    assert "--run-commands" not in scripted, "the scenarios before i keep the scripted emulator"
    assert runner[runner.index("--host") + 1] == "127.0.0.1"
    assert "--run-commands" in runner
    assert float(runner[runner.index("--max-run-seconds") + 1]) <= 600
    assert 1 <= int(runner[runner.index("--max-processes") + 1]) <= 8
    assert deployment.runner.port != deployment.emulator.port
    env = airflow_env.airflow_env(deployment.settings, hostname_of("worker-1"))
    runner_conn = json.loads(env["AIRFLOW_CONN_SATURN_RUNNER"])
    assert runner_conn["host"] == deployment.runner.url and runner_conn["host"].startswith("http://127.0.0.1:")
    assert json.loads(env["AIRFLOW_CONN_SATURN_DEFAULT"])["host"] == deployment.emulator.url


def test_the_runner_emulator_and_its_job_processes_are_stopped_with_the_harness(tmp_path: Path):
    """A job run's process (a child of the runner emulator, in a process group of its own) is ended when the
    harness stops its children, whichever way the emulator goes."""
    from e2e.emulator import Emulator

    processes = Processes(subreaper=False)
    runner = Emulator(processes, tmp_path, transition_seconds=0.1, name="runner", run_commands=True)
    runner.start()
    try:
        with runner.client() as client:
            job = client.create_job("sleeper", "sleep 300")
            client.start_job(job["id"])
        wait_for(lambda: len(runner.child.tree()) >= 2 if runner.child else False, timeout=30, what="the pod")
        tree = runner.child.tree() if runner.child else set()
        assert len(tree) >= 2, "the emulator and its job run's process"
    finally:
        processes.stop_all(grace=5)
    assert not alive(tree)


def test_the_main_emulator_runs_real_dask_clusters_within_bounds(tmp_path: Path):
    """The deployment's main emulator starts a real Dask scheduler and workers for a started cluster (the example
    DAG and scenario j compute on them), bounded, on 127.0.0.1; the runner emulator does not."""
    deployment = Deployment(tmp_path, Processes(subreaper=False), say=lambda _: None)
    main, runner = deployment.emulator.command(), deployment.runner.command()
    assert "--real-dask" in main and "--real-dask" not in runner
    assert main[main.index("--host") + 1] == "127.0.0.1"
    assert 3 <= int(main[main.index("--max-dask-processes") + 1]) <= 8, "room for one cluster of 2, not more"
    assert 2 <= int(main[main.index("--max-dask-workers") + 1]) <= 4
    assert 0 < float(main[main.index("--dask-start-timeout") + 1]) <= 120
    assert "--run-commands" not in main


def test_dask_role_names_the_launchers_processes_only(tmp_path: Path):
    """A process counts as a Dask scheduler or worker by the launcher it runs and the role that follows it."""
    from e2e.emulator import command_line, dask_role

    python = [sys.executable, "-c", "import time; time.sleep(300)"]
    processes = Processes(subreaper=False)
    launched = {
        role: processes.start(role, [*python, "/x/dask_launcher.py", role], log_path=tmp_path / role)
        for role in ("scheduler", "worker", "nanny")
    }
    other = processes.start("other", [*python, "launcher.py", "worker"], log_path=tmp_path / "other")
    try:
        wait_for(lambda: all(command_line(c.pid)[-1:] == [c.name] for c in launched.values()), timeout=30, what="them")
        assert {name: dask_role(child.pid) for name, child in launched.items()} == {
            "scheduler": "scheduler",
            "worker": "worker",
            "nanny": None,  # not a role the launcher has
        }
        assert dask_role(other.pid) is None and dask_role(os.getpid()) is None
    finally:
        processes.stop_all(grace=5)
    assert command_line(other.pid) == [] and dask_role(other.pid) is None, "a process that is gone has no role"


def test_real_dask_processes_are_seen_gone_after_a_stop_and_stopped_with_the_harness(tmp_path: Path):
    """The harness finds a real cluster's scheduler and workers among the emulator's descendants (the scenarios
    prove with it that a cluster ran and that its stop left nothing); a stop of the cluster ends them, and so does
    the harness's stop of the emulator, which leaves none of them behind."""
    from e2e.emulator import DaskProcessWatch, Emulator

    processes = Processes(subreaper=False)
    emulator = Emulator(processes, tmp_path, transition_seconds=0.1, real_dask=True, max_dask_processes=4)
    emulator.start()
    try:
        with emulator.client() as client:
            project = client.create_project("harness-dask")
            cluster_id = client.create_dask_cluster(project["id"], n_workers=1)["id"]

        def running() -> bool:
            with emulator.client() as client:
                return bool(client.get_dask_cluster(cluster_id)["status"] == "running")

        watch = DaskProcessWatch(emulator, interval=0.1).start()
        try:
            with emulator.client() as client:
                client.start_dask_cluster(cluster_id)
            wait_for(running, timeout=90, what="the real cluster to run")
            seen = emulator.dask_processes()
            assert sorted(seen.values()) == ["scheduler", "worker"]
            assert emulator.child is not None and set(seen) <= emulator.child.tree()
            with emulator.client() as client:
                client.stop_dask_cluster(cluster_id)
            assert emulator.dask_processes_gone(timeout=30) is not None
        finally:
            watch.stop()
        assert watch.seen("scheduler") | watch.seen("worker") == set(seen)
        assert watch.with_processes() and not watch.sample().processes
        with emulator.client() as client:
            client.start_dask_cluster(cluster_id)
        wait_for(running, timeout=90, what="the real cluster to run again")
        again = set(emulator.dask_processes())
        assert len(again) == 2 and not again & set(seen), "a new start: new processes"
    finally:
        processes.stop_all(grace=5)
    # The emulator ends its clusters as it stops; a process it left (it exited first) ends when it sees its parent
    # gone, within a poll; the harness itself (the subreaper there, not here) would sweep it.
    wait_for(lambda: not alive(again), timeout=15, interval=0.1, what="the emulator's Dask processes to end with it")
