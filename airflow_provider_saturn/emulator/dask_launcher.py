"""One process of an emulated real Dask cluster: a scheduler or a worker, on 127.0.0.1 only, mutual TLS required.

Run by ``real_dask.py`` as ``python -P dask_launcher.py scheduler|worker DIRECTORY PARENT_PID [...]``, from the
file's path (``-P``: this directory is not put on ``sys.path``), so that it imports only the standard library and
``distributed``, never the emulator. ``DIRECTORY`` is the cluster's private directory (0700): ``ca.pem`` (the
cluster's CA certificate) and this role's ``<role>.pem`` / ``<role>-key.pem``. The scheduler writes its address
and dashboard port to ``scheduler.json`` there (written whole, then renamed); a worker waits for that file (at
most ``SCHEDULER_WAIT_SECONDS``) and joins the scheduler it names.

The process ends on SIGTERM or SIGINT (closing its server cleanly), when its server closes, and when the emulator
that started it is gone (its parent process changes), so that it never outlives the emulator for long; in that
last case nobody is left to remove ``DIRECTORY`` (keys included), so each process of the cluster removes it as it
ends (the last one to end leaves nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

SCHEDULER_FILE = "scheduler.json"
SCHEDULER_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2
LOCALHOST = "127.0.0.1"


def _security(directory: Path, role: str) -> Any:
    from distributed.security import Security

    return Security(
        tls_ca_file=str(directory / "ca.pem"),
        require_encryption=True,
        **{f"tls_{role}_cert": str(directory / f"{role}.pem"), f"tls_{role}_key": str(directory / f"{role}-key.pem")},
    )


async def _serve_until_stopped(server: Any, parent_pid: int) -> None:
    """Until SIGTERM/SIGINT, the server's own end, or the parent's end; bounded by none of these but each
    checked every ``POLL_SECONDS``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    finished = asyncio.ensure_future(server.finished())
    try:
        while not stop.is_set() and not finished.done() and os.getppid() == parent_pid:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    finally:
        finished.cancel()


def _write_scheduler_file(directory: Path, address: str, dashboard_port: int | None) -> None:
    partial = directory / (SCHEDULER_FILE + ".partial")
    partial.write_text(json.dumps({"address": address, "dashboard_port": dashboard_port}), encoding="utf-8")
    partial.replace(directory / SCHEDULER_FILE)


async def run_scheduler(directory: Path, parent_pid: int) -> None:
    from distributed import Scheduler

    scheduler = Scheduler(
        host=LOCALHOST,
        protocol="tls",
        port=0,
        security=_security(directory, "scheduler"),
        dashboard_address=f"{LOCALHOST}:0",
        dashboard=True,
    )
    async with scheduler:
        http_server = getattr(scheduler, "http_server", None)
        port = http_server.port if http_server is not None else None
        _write_scheduler_file(directory, scheduler.address, port)
        await _serve_until_stopped(scheduler, parent_pid)
        await scheduler.close(reason="emulator-stop")


def _scheduler_address(directory: Path, parent_pid: int) -> str:
    deadline = time.monotonic() + SCHEDULER_WAIT_SECONDS
    path = directory / SCHEDULER_FILE
    while time.monotonic() < deadline and os.getppid() == parent_pid:
        if path.exists():
            return str(json.loads(path.read_text(encoding="utf-8"))["address"])
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"no scheduler address within {SCHEDULER_WAIT_SECONDS:g} s")


async def run_worker(directory: Path, parent_pid: int, name: str, nthreads: int) -> None:
    from distributed import Worker

    address = _scheduler_address(directory, parent_pid)
    work = directory / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    worker = Worker(
        address,
        name=name,
        nthreads=nthreads,
        host=LOCALHOST,
        security=_security(directory, "worker"),
        dashboard=False,
        dashboard_address=f"{LOCALHOST}:0",
        local_directory=str(work),
    )
    async with worker:
        await _serve_until_stopped(worker, parent_pid)
        await worker.close(reason="emulator-stop")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A process of an emulated Dask cluster")
    parser.add_argument("role", choices=["scheduler", "worker"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("parent_pid", type=int)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--nthreads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.role == "scheduler":
            asyncio.run(run_scheduler(args.directory, args.parent_pid))
        else:
            asyncio.run(run_worker(args.directory, args.parent_pid, args.name, args.nthreads))
    finally:
        if os.getppid() != args.parent_pid:  # the emulator is gone: it cannot remove the directory any more
            shutil.rmtree(args.directory, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
