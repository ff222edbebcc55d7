"""Redis, Celery's broker: Debian's ``redis-server`` on a free port of 127.0.0.1, nothing saved to disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from e2e.processes import Child, Processes
from e2e.waiting import SetupError, free_port, wait_for


class Redis:
    """One ``redis-server``: ``start()`` serves it and waits until it answers PING."""

    def __init__(self, processes: Processes, directory: Path, log_dir: Path) -> None:
        self.processes = processes
        self.directory = directory
        self.log_dir = log_dir
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        program = shutil.which("redis-server")
        if program is None:
            raise SetupError("redis-server is not installed: apt-get install redis-server (python dev.py e2e does)")
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            program,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        self.child = self.processes.start("redis", command, log_path=self.log_dir / "redis.log", cwd=self.directory)
        wait_for(self._pong, timeout=30, what=f"Redis on 127.0.0.1:{self.port}")

    def _pong(self) -> bool:
        import redis

        if self.child is not None and not self.child.running():
            raise SetupError(f"redis-server exited with {self.child.popen.returncode}; see {self.child.log_path}")
        return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).ping())
