"""Postgres for Airflow's metadata database: a throw-away cluster in a temporary directory, on 127.0.0.1 only.

Debian's ``postgresql`` package puts ``initdb`` and ``postgres`` in ``/usr/lib/postgresql/<version>/bin``, off
PATH. Postgres refuses to run as root, so under root the cluster belongs to the package's ``postgres`` user.
Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data lives for one run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from e2e.processes import Child, Processes
from e2e.waiting import SetupError, free_port, wait_for

DATABASE = "airflow"
SUPERUSER = "airflow"


def find_program(name: str) -> str:
    """A PostgreSQL program: on PATH, else the newest Debian version's."""
    on_path = shutil.which(name)
    if on_path:
        return on_path
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: _version(path))
    if versions:
        return str(versions[-1])
    raise SetupError(f"PostgreSQL's {name} is not installed: apt-get install postgresql (python dev.py e2e does)")


def _version(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in path.parent.parent.name.split("."))
    except ValueError:
        return (0,)


def run_as() -> str | None:
    """The user the cluster runs as: None (the current one), or ``postgres`` when the harness is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SetupError(
            "running as root, and there is no 'postgres' user to run PostgreSQL as (Debian's postgresql package "
            "makes one): install it, or run as a normal user"
        ) from None
    return "postgres"


class Postgres:
    """One Postgres cluster: ``start()`` makes it, serves it on a free port and creates the ``airflow`` database."""

    def __init__(self, processes: Processes, directory: Path, log_dir: Path) -> None:
        self.processes = processes
        self.directory = directory
        self.log_dir = log_dir
        self.port = free_port()
        self.user = run_as()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the Airflow database (trust authentication on 127.0.0.1)."""
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def dsn(self, database: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database} connect_timeout=5"

    def start(self) -> None:
        initdb, postgres = find_program("initdb"), find_program("postgres")
        data = self.directory / "data"
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        init_log = self.log_dir / "postgres-initdb.log"
        with open(init_log, "wb") as log:
            completed = subprocess.run(  # noqa: S603
                [initdb, "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.directory,
                timeout=120,
                check=False,
            )
        if completed.returncode != 0:
            raise SetupError(f"initdb failed (exit {completed.returncode}); see {init_log}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",  # TCP on 127.0.0.1 only
            "max_connections": "400",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "128MB",
        }
        command = [postgres, "-D", str(data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        self.child = self.processes.start(
            "postgres", command, log_path=self.log_dir / "postgres.log", cwd=self.directory, user=self.user
        )
        wait_for(self._accepts, timeout=60, what=f"Postgres on 127.0.0.1:{self.port}")
        import psycopg2

        connection = psycopg2.connect(self.dsn("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()

    def _accepts(self) -> bool:
        import psycopg2

        if self.child is not None and not self.child.running():
            raise SetupError(f"postgres exited with {self.child.popen.returncode}; see {self.child.log_path}")
        psycopg2.connect(self.dsn("postgres")).close()
        return True
