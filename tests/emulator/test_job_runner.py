"""The emulator's runner mode (``run_commands=True``): a job run's pods run for real as processes.

Real processes on this machine, real HTTP on 127.0.0.1: each test starts commands (``python -c``, ``sleep``) and
reads what they wrote through the job's paged logs, their statuses through the run summaries and pod history,
and what is left of them (processes, temporary homes) through ``/proc`` and the file system.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from saturn_api.models import HistoricLogList, Job, JobRuntimeSummaryList, ResourceHistory

from airflow_provider_saturn.emulator import SaturnEmulator
from airflow_provider_saturn.emulator.pod_home import ConfigFileError, write_config_files
from tests.conftest import TOKEN
from tests.emulator.processes import alive, wait_for

FAST: dict[str, Any] = {"transition_seconds": 0.05, "kill_grace_seconds": 0.5}
PY = "python -c"
POD_BASE_VARIABLES = {"PATH", "LANG", "HOME", "TMPDIR", "HOSTNAME"}
SHELL_VARIABLES = {"PWD", "OLDPWD", "SHLVL", "_"}  # what /bin/sh itself may export


# ---------------------------------------------------------------------------------------------- helpers


class Api:
    """The emulator's API over real HTTP, with the token it accepts."""

    def __init__(self, url: str, token: str = TOKEN) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def call(self, method: str, path: str, status_code: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, timeout=5, **kwargs)
        assert response.status_code == status_code, response.text
        return response.json() if response.content else None

    def create(self, command: str, name: str = "job", **fields: Any) -> dict:
        job = self.call("POST", "/api/jobs", 201, json={"name": name, "command": command, **fields})
        Job.model_validate(job)
        return job

    def start(self, job_id: str) -> str:
        """Start a run; its name."""
        before = {run["name"] for run in self.runs(job_id)}
        self.call("POST", f"/api/jobs/{job_id}/start")
        return wait_for(lambda: ({run["name"] for run in self.runs(job_id)} - before or {""}).pop(), what="the run")

    def runs(self, job_id: str) -> list[dict]:
        body = self.call("GET", f"/api/jobs/{job_id}/runtimesummary")
        JobRuntimeSummaryList.model_validate(body)
        return body["job_summaries"]

    def run(self, job_id: str, name: str) -> dict:
        return next(run for run in self.runs(job_id) if run["name"] == name)

    def history(self, job_id: str) -> list[dict]:
        body = self.call("GET", f"/api/jobs/{job_id}/history")
        ResourceHistory.model_validate(body)
        return body["pods"][::-1]  # oldest first

    def lines(self, job_id: str) -> list[str]:
        """Every line the job's pods have written so far, following ``next_key`` to the end."""
        contents: list[str] = []
        key = None
        for _ in range(1000):
            body = self.call("GET", f"/api/jobs/{job_id}/logs", params={"next_key": key} if key else {})
            HistoricLogList.model_validate(body)
            contents += [line["content"] for line in body["logs"]]
            if body["next_key"] is None:
                return contents
            key = body["next_key"]
        raise AssertionError("the logs never ended")

    def line_matching(self, job_id: str, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        compiled = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next(filter(None, map(compiled.fullmatch, self.lines(job_id))), None)

        return wait_for(found, timeout, f"a line matching {pattern!r}")

    def ended(self, job_id: str, run_name: str, timeout: float = 10.0) -> dict:
        """The run's summary once it is completed, error or stopped."""
        return wait_for(
            lambda: (run := self.run(job_id, run_name))["status"] in ("completed", "error", "stopped") and run,
            timeout,
            f"run {run_name} to end",
        )

    def run_to_end(self, command: str, timeout: float = 10.0, **fields: Any) -> tuple[dict, dict, list[str]]:
        """Create a job, run it to its end: the job, the run's summary and its log lines."""
        job = self.create(command, **fields)
        run = self.ended(job["id"], self.start(job["id"]), timeout)
        return job, run, self.lines(job["id"])


@pytest.fixture
def api(emulator_runner: SaturnEmulator) -> Api:
    return Api(emulator_runner.url)


@pytest.fixture
def runner_factory() -> Iterator[Callable[..., SaturnEmulator]]:
    """Emulators in runner mode with settings of the test's choosing, each stopped after the test."""
    started: list[SaturnEmulator] = []

    def make(**settings: Any) -> SaturnEmulator:
        emulator = SaturnEmulator(token=TOKEN, run_commands=True, **{**FAST, **settings}).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def _python(code: str) -> str:
    return f"{PY} {json.dumps(code)}"


# ---------------------------------------------------------------------------------------------- runs and logs


def test_a_command_runs_for_real_and_its_lines_and_exit_code_decide_the_run(api: Api) -> None:
    job, run, lines = api.run_to_end(_python("import os; print('one'); print('two', os.getpid() > 1)"))
    assert lines == ["one", "two True"]
    assert run["status"] == "completed"
    assert [(c["type"], c["status"]) for c in run["conditions"]] == [("Complete", "True")]
    assert api.call("GET", f"/api/jobs/{job['id']}")["status"] == "completed"
    assert [pod["status"] for pod in api.history(job["id"])] == ["completed"]

    job, run, lines = api.run_to_end(_python("import sys; print('x'); sys.exit(3)"), name="failing")
    assert lines == ["x"]
    assert run["status"] == "error"
    assert [(c["type"], c["reason"], c["message"]) for c in run["conditions"]] == [
        ("Failed", "Error", "Command exited with code 3")
    ]
    assert api.call("GET", f"/api/jobs/{job['id']}")["status"] == "error"


def test_stderr_lines_are_log_lines_too_and_lines_show_as_they_are_written(api: Api) -> None:
    code = "import sys, time; print('out', flush=True); print('err', file=sys.stderr, flush=True); time.sleep(30)"
    job = api.create(_python(code))
    run_name = api.start(job["id"])
    wait_for(lambda: sorted(api.lines(job["id"])) == ["err", "out"], what="both lines while the command runs")
    assert api.run(job["id"], run_name)["status"] == "running"
    api.call("POST", f"/api/jobs/{job['id']}/stop/{run_name}")
    assert api.ended(job["id"], run_name)["status"] == "stopped"


def test_a_very_long_line_is_split_at_16_kib_as_a_container_runtime_does(api: Api) -> None:
    _, run, lines = api.run_to_end(_python("print('x' * 40000); print('é' * 9000); print('end')"))
    assert run["status"] == "completed"
    assert [len(line) for line in lines[:3]] == [16384, 16384, 40000 - 2 * 16384]
    assert "".join(lines[3:-1]) == "é" * 9000 and all(len(line.encode()) <= 16384 for line in lines[3:-1])
    assert lines[-1] == "end"


# ---------------------------------------------------------------------------------------------- what a pod sees


def test_config_files_are_in_a_fresh_private_home_with_their_modes(api: Api) -> None:
    code = (
        "import os, pathlib, stat; home = pathlib.Path.home(); p = home / 'conf/settings.json';"
        "print(p.read_text()); print(oct(stat.S_IMODE(p.stat().st_mode)));"
        "print(oct(stat.S_IMODE(home.stat().st_mode))); print(os.access(home / 'bin/tool.sh', os.X_OK))"
    )
    files = {
        "conf/settings.json": {"content": '{"answer": 42}', "mode": "0600"},
        "bin/tool.sh": {"content": "#!/bin/sh\necho tool\n", "mode": "0755"},
    }
    _, run, lines = api.run_to_end(_python(code), config_files=files)
    assert lines == ['{"answer": 42}', "0o600", "0o700", "True"]
    _, run, lines = api.run_to_end("sh bin/tool.sh; ls -A", name="second", config_files=files, working_dir="")
    assert run["status"] == "completed" and lines[0] == "tool" and "settings.json" not in lines


def test_the_pod_environment_is_the_jobs_and_saturns_not_the_machines(
    api: Api, emulator_runner: SaturnEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_TEST_MACHINE_SECRET", "do-not-leak")
    code = (
        "import json, os, sys, urllib.request;"
        "request = urllib.request.Request(os.environ['SATURN_BASE_URL'] + '/api/jobs/' + os.environ['SATURN_JOB_ID'],"
        " headers={'Authorization': 'token ' + os.environ['SATURN_TOKEN']});"
        "answer = json.load(urllib.request.urlopen(request, timeout=5));"
        "print(json.dumps({'env': dict(os.environ), 'job': answer['name'], 'python': sys.executable}))"
    )
    job, run, lines = api.run_to_end(_python(code), environment_variables={"my_setting": "value-1"})
    assert run["status"] == "completed", lines
    seen = json.loads(lines[0])
    env = seen["env"]
    assert seen["job"] == "job"  # the pod's own token reads its job through SATURN_BASE_URL
    assert seen["python"] == sys.executable  # `python` is the emulator's interpreter
    assert env["MY_SETTING"] == "value-1"
    assert env["SATURN_BASE_URL"] == emulator_runner.url and env["SATURN_JOB_ID"] == job["id"]
    assert env["SATURN_IS_INTERNAL"] == "true" and env["SATURN_VERSION"] == "2026.02.01"
    assert env["SATURN_TOKEN"] != TOKEN  # a token of the run's own, not the emulator's main token
    assert env["HOSTNAME"] == api.history(job["id"])[0]["pod_name"]
    assert "RUNNER_TEST_MACHINE_SECRET" not in env and "VIRTUAL_ENV" not in env
    assert set(env) - POD_BASE_VARIABLES - SHELL_VARIABLES - {"MY_SETTING"} == {
        "SATURN_BASE_URL",
        "SATURN_TOKEN",
        "SATURN_JOB_ID",
        "SATURN_IS_INTERNAL",
        "SATURN_VERSION",
        "SATURN_EMULATOR_POD",  # the emulator's own: a random marker of the pod's processes (pod_marker.py)
    }
    assert re.fullmatch(r"[0-9a-f]{32}", env["SATURN_EMULATOR_POD"])
    assert Path(env["TMPDIR"]).parent == Path(env["HOME"])
    # the run's token ends with the run
    refused = requests.get(emulator_runner.url + "/api/jobs", headers={"Authorization": "token " + env["SATURN_TOKEN"]})
    assert refused.status_code == 401


def test_working_dir_relative_is_under_home_and_the_saturn_default_maps_into_home(api: Api) -> None:
    command = _python("import os, pathlib; print(pathlib.Path.cwd().relative_to(pathlib.Path.home()))")
    assert api.run_to_end(command, working_dir="work/dir")[2] == ["work/dir"]
    assert api.run_to_end(command, name="default")[2] == ["workspace"]  # /home/jovyan/workspace
    _, run, lines = api.run_to_end(command, name="missing", working_dir="/nonexistent/emulator/dir")
    assert run["status"] == "error" and "working_dir" in lines[-1]


def test_the_start_script_runs_before_the_command_and_its_failure_fails_the_pod(api: Api) -> None:
    _, run, lines = api.run_to_end(
        "cat started.txt; echo command", start_script="echo start script; echo written > started.txt"
    )
    assert (run["status"], lines) == ("completed", ["start script", "written", "command"])
    _, run, lines = api.run_to_end("echo command", name="second", start_script="echo broken; exit 4")
    assert (run["status"], lines) == ("error", ["broken"])
    assert run["conditions"][0]["message"] == "Command exited with code 4"


def test_extra_packages_are_logged_and_not_installed(api: Api) -> None:
    _, _, lines = api.run_to_end("echo ok", extra_packages={"pip": "numpy==2.0 pandas", "conda": None})
    assert lines == ["extra_packages not installed by the emulator: pip: numpy==2.0 pandas", "ok"]


# ---------------------------------------------------------------------------------------------- retries, scale, stops


def test_retries_run_failed_pods_again_in_new_pods(api: Api, tmp_path: Path) -> None:
    _, run, lines = api.run_to_end(_python("import sys; print('attempt'); sys.exit(3)"), retries=2)
    assert run["status"] == "error" and lines == ["attempt"] * 3
    # The second pod succeeds (it sees what the first left outside its home): the run completes.
    marker = tmp_path / "first-attempt"
    code = "import os, pathlib, sys; m = pathlib.Path(os.environ['MARKER']); seen = m.exists(); m.touch();"
    code += "print('home', os.environ['HOME']); sys.exit(0 if seen else 5)"
    job, run, lines = api.run_to_end(
        _python(code), name="flaky", retries=3, environment_variables={"MARKER": str(marker)}
    )
    pods = api.history(job["id"])
    assert run["status"] == "completed" and [pod["status"] for pod in pods] == ["error", "completed"]
    assert len(set(lines)) == 2  # each pod had a home of its own


def test_scale_runs_that_many_pods(api: Api) -> None:
    job, run, lines = api.run_to_end(_python("import os; print(os.environ['HOSTNAME'])"), scale=2)
    pods = api.history(job["id"])
    assert run["status"] == "completed" and run["scale"] == 2
    assert sorted(lines) == sorted(pod["pod_name"] for pod in pods) and len(pods) == 2


def test_a_stop_kills_the_process_group_quickly(api: Api) -> None:
    job = api.create("sleep 60 & echo pids $$ $!; wait")
    other = api.create("sleep 60", name="other")
    run_name = api.start(job["id"])
    other_run = api.start(other["id"])
    shell, child = map(int, api.line_matching(job["id"], r"pids (\d+) (\d+)").groups())
    assert alive(shell) and alive(child)
    stopped_at = time.monotonic()
    api.call("POST", f"/api/jobs/{job['id']}/stop")
    wait_for(lambda: not alive(shell) and not alive(child), timeout=3, what="the shell and its child to end")
    assert time.monotonic() - stopped_at < 2
    assert api.ended(job["id"], run_name)["status"] == "stopped"
    assert api.history(job["id"])[0]["status"] == "stopped"
    assert api.run(other["id"], other_run)["status"] == "running"  # another job's run is not touched
    api.call("POST", f"/api/jobs/{other['id']}/stop")
    assert api.ended(other["id"], other_run)["status"] == "stopped"


def test_runs_beyond_the_process_bound_wait_pending(runner_factory: Callable[..., SaturnEmulator]) -> None:
    api = Api(runner_factory(max_processes=1).url)
    first, second = api.create("sleep 60", name="first"), api.create("echo second", name="second")
    first_run = api.start(first["id"])
    wait_for(lambda: api.run(first["id"], first_run)["status"] == "running", what="the first run to run")
    second_run = api.start(second["id"])
    time.sleep(0.5)
    assert api.run(second["id"], second_run)["status"] == "pending"
    api.call("POST", f"/api/jobs/{first['id']}/stop")
    assert api.ended(second["id"], second_run)["status"] == "completed"
    assert api.lines(second["id"]) == ["second"]


def test_a_pod_over_the_wall_clock_bound_is_killed_and_fails(runner_factory: Callable[..., SaturnEmulator]) -> None:
    api = Api(runner_factory(max_run_seconds=0.5).url)
    started = time.monotonic()
    _, run, lines = api.run_to_end("echo begun; sleep 60", timeout=5)
    assert time.monotonic() - started < 4
    assert run["status"] == "error" and lines == ["begun"]
    assert "max_run_seconds" in run["conditions"][0]["message"]


def test_python_is_the_interpreter_asked_for(runner_factory: Callable[..., SaturnEmulator]) -> None:
    from airflow_provider_saturn.emulator.__main__ import parse_args

    assert parse_args(["--run-commands", "--python", "/usr/bin/python3"]).python == "/usr/bin/python3"
    echo = shutil.which("echo")
    assert echo is not None
    api = Api(runner_factory(python=echo).url)  # a stand-in interpreter whose effect is easy to see
    _, run, lines = api.run_to_end("python3 stands in")
    assert (run["status"], lines) == ("completed", ["stands in"])
    with pytest.raises(ValueError, match="python"):
        SaturnEmulator(token=TOKEN, run_commands=True, python="/nonexistent/python")


def test_the_pytest_fixture_offers_runner_mode(saturn_emulator_runner: SaturnEmulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_SATURN_DEFAULT"])
    api = Api(connection["host"], connection["password"])
    _, run, lines = api.run_to_end(_python("print(6 * 7)"))
    assert (run["status"], lines) == ("completed", ["42"])
    assert saturn_emulator_runner.runner is not None


# ---------------------------------------------------------------------------------------------- safety and cleanup


def test_shutdown_leaves_no_process_and_no_temporary_home() -> None:
    with SaturnEmulator(token=TOKEN, run_commands=True, **FAST) as emulator:
        api = Api(emulator.url)
        job = api.create("sleep 60 & echo pids $$ $! $HOME; wait", scale=2)
        api.start(job["id"])
        lines = wait_for(lambda: len(found := api.lines(job["id"])) == 2 and found, what="both pods' lines")
        pids = [int(pid) for line in lines for pid in line.split()[1:3]]
        homes = [Path(line.split()[3]) for line in lines]
        assert all(map(alive, pids)) and all(home.is_dir() for home in homes)
    assert not any(map(alive, pids))
    assert not any(home.exists() for home in homes) and not homes[0].parent.exists()  # nor the runner's own


def test_what_a_command_leaves_running_ends_with_its_pod(api: Api) -> None:
    _, run, lines = api.run_to_end("sleep 60 & echo left $!")
    left = int(lines[0].split()[1])
    assert run["status"] == "completed"
    wait_for(lambda: not alive(left), timeout=3, what="the process left behind to end")


def test_sigterm_of_the_command_line_emulator_kills_its_pods(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "airflow_provider_saturn.emulator", "--run-commands", "--token", TOKEN]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().rpartition(" ")[2]
        api = Api(url)
        job = api.create("sleep 60 & echo pids $$ $! $HOME; wait")
        api.start(job["id"])
        shell, child, home = api.line_matching(job["id"], r"pids (\d+) (\d+) (\S+)", timeout=15).groups()
        assert alive(int(shell)) and Path(home).is_dir()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    wait_for(lambda: not alive(int(shell)) and not alive(int(child)), timeout=3, what="the pod's processes to end")
    assert not Path(home).exists()


def test_running_commands_is_off_by_default_and_refused_off_loopback(tmp_path: Path) -> None:
    with SaturnEmulator(token=TOKEN, transition_seconds=0.05) as scripted:
        api = Api(scripted.url)
        ran = tmp_path / "ran"
        _, _, lines = api.run_to_end(f"touch {ran}")
        assert lines == [f"touch {ran}"] and not ran.exists()  # the scripted mode writes the step, runs nothing
    with pytest.raises(ValueError, match="loopback"):
        SaturnEmulator(token=TOKEN, host="0.0.0.0", run_commands=True)
    refused = subprocess.run(
        [sys.executable, "-m", "airflow_provider_saturn.emulator", "--run-commands", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode != 0 and "loopback" in refused.stderr


@pytest.mark.parametrize(
    "path", ["../outside", "/etc/outside", "a/../../outside", "a/./b", "", "a//b", "x\x00y"], ids=repr
)
def test_config_file_paths_that_leave_home_are_refused(api: Api, path: str) -> None:
    body = {"name": "escape", "command": "echo hi", "config_files": {path: {"content": "x", "mode": "0644"}}}
    refused = api.call("POST", "/api/jobs", 422, json=body)
    assert refused["message"].startswith("config_files")


def test_bad_modes_and_escaping_working_dirs_are_refused(api: Api) -> None:
    for fields in (
        {"config_files": {"a": {"content": "x", "mode": "4755"}}},
        {"config_files": {"a": {"content": "x", "mode": "rw"}}},
        {"working_dir": "../elsewhere"},
    ):
        refused = api.call("POST", "/api/jobs", 422, json={"name": "bad", "command": "echo", **fields})
        assert refused["message"].split(":")[0].split(".")[0] in fields, refused


def test_config_files_are_never_written_through_a_symlink(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    home.mkdir()
    outside.mkdir()
    (home / "link").symlink_to(outside)
    with pytest.raises(ConfigFileError, match="link"):
        write_config_files(home, {"link/file": {"content": "x", "mode": "0644"}})
    (home / "file-link").symlink_to(outside / "target")
    with pytest.raises(ConfigFileError, match="file-link"):
        write_config_files(home, {"file-link": {"content": "x", "mode": "0644"}})
    assert list(outside.iterdir()) == []
