"""A pod, for real: the files build_job_files makes written into a temporary $HOME, and the job's command run
through a shell with this interpreter; its stdout and stderr, merged as a container log merges them, as lines."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_saturn.remote import FrameReader, bootstrap_command, build_job_files, function_source, new_marker
from airflow_provider_saturn.remote.bootstrap import DEFAULT_RESULT_BOUND, FRAME_TAG, MAX_LINE_BYTES

PIPE_BUF = 4096


@dataclass
class PodRun:
    """What one run of the bootstrap left: its exit code and its log lines."""

    marker: str
    returncode: int
    lines: list[str]
    home: Path


def write_files(home: Path, files: dict[str, dict[str, str]]) -> None:
    """Write config_files as Saturn does: each path under $HOME, with its mode."""
    for relative, entry in files.items():
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry["content"], encoding="utf-8")
        path.chmod(int(entry["mode"], 8))


def run_pod(home: Path, marker: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> PodRun:
    """Run the job's command in ``home``; every frame line it writes must fit the frame line bound."""
    env = {**os.environ, "HOME": str(home), **(extra_env or {})}
    completed = subprocess.run(
        bootstrap_command(sys.executable),
        shell=True,
        cwd=cwd or home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    lines = completed.stdout.decode("utf-8").splitlines()
    for line in lines:
        if FRAME_TAG in line and marker in line:
            assert len(line.encode("utf-8")) + 1 <= MAX_LINE_BYTES < PIPE_BUF
    return PodRun(marker, completed.returncode, lines, home)


def ship(
    tmp_path: Path,
    function: Callable[..., Any],
    *args: Any,
    serializer: str = "json",
    result_bound: int = DEFAULT_RESULT_BOUND,
    **kwargs: Any,
) -> PodRun:
    """Ship ``function`` with its arguments and run it once."""
    source, name = function_source(function)
    marker = new_marker()
    home = tmp_path / "home"
    write_files(home, build_job_files(source, name, args, kwargs, serializer, marker, result_bound))
    return run_pod(home, marker)


def reader_of(lines: Iterable[str], marker: str, **options: Any) -> FrameReader:
    """A reader fed every line."""
    reader = FrameReader(marker, **options)
    for line in lines:
        reader.feed(line)
    return reader


def result_of(run: PodRun, **options: Any) -> Any:
    """The value the run's log gives back (or the error it raises)."""
    return reader_of(run.lines, run.marker, **options).result()


def frame_lines_of(run: PodRun) -> list[str]:
    """The run's frame lines."""
    return [line for line in run.lines if FRAME_TAG in line and run.marker in line]
