"""The harness's child processes: each in a session of its own, its output in a log file, stopped with its tree.

Airflow components start children of their own: Celery pool processes, task supervisors, task processes (in
process groups of their own), the trigger runner, API server workers. So a component is stopped by its
*session* (Airflow moves task processes to new process groups, never to new sessions) together with its
descendants, never by name. The harness makes itself a child subreaper, so that a grandchild whose parent died
is re-parented to it, not to init, and is still found and stopped at teardown.

Every wait here is bounded; a process that outlives its SIGTERM grace period gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class ProcessInfo:
    """One line of the process table: what ``/proc/<pid>/stat`` says."""

    pid: int
    ppid: int
    session: int
    state: str
    name: str


def read_stat(text: str) -> ProcessInfo:
    """Parse ``/proc/<pid>/stat``; the name is in parentheses and may itself hold spaces and parentheses."""
    head, _, tail = text.rpartition(")")
    pid, _, name = head.partition(" (")
    fields = tail.split()
    return ProcessInfo(pid=int(pid), ppid=int(fields[1]), session=int(fields[3]), state=fields[0], name=name)


def process_table() -> dict[int, ProcessInfo]:
    """Every live process (zombies left out: they are dead, only not yet waited for)."""
    table: dict[int, ProcessInfo] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            info = read_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if info.state not in ("Z", "X"):
            table[info.pid] = info
    return table


def descendants(root: int, table: dict[int, ProcessInfo]) -> set[int]:
    """Every process below ``root`` in ``table``, following parent links."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def become_subreaper() -> bool:
    """Have orphaned descendants re-parented to this process (Linux); False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def send(pids: Iterable[int], signum: int) -> None:
    """Signal each pid; one that is already gone is fine."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class Child:
    """One process the harness started, the leader of its own session; ``log_path`` has its output."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path, command: list[str]) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.command = command
        self.started = time.time()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> set[int]:
        """This process, every process of its session, and every descendant: what stopping it must end."""
        table = process_table()
        members = {pid for pid, info in table.items() if info.session == self.pid}
        alive = {self.pid} if self.pid in table else set()
        return alive | members | descendants(self.pid, table)

    def kill(self, timeout: float = 15.0) -> list[int]:
        """SIGKILL the whole tree, again until nothing of it is left (bounded); returns the pids signalled."""
        signalled: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.tree()
            if not pids:
                break
            signalled |= pids
            send(pids, signal.SIGKILL)
            self._reap(0.2)
        self._reap(5.0)
        return sorted(signalled)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process (Airflow components stop their own children on it), then SIGKILL what is left."""
        if self.running():
            send([self.pid], signal.SIGTERM)
            self._reap(grace)
        leftover = self.tree()
        if leftover:
            send(leftover, signal.SIGTERM)
            time.sleep(0.5)
        self.kill()

    def _reap(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)


class Processes:
    """Every child the harness started, so that teardown ends all of them (and anything they left behind).

    :param subreaper: make this process the subreaper of its descendants, and have ``stop_all`` end every
        descendant it has at the end (right for the harness, which starts nothing else; not for a test runner).
    """

    def __init__(self, *, subreaper: bool = True) -> None:
        self.children: list[Child] = []
        self.subreaper = become_subreaper() if subreaper else False

    def start(
        self,
        name: str,
        command: list[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> Child:
        """Start ``command`` in a new session with its output appended to ``log_path`` (as ``user``, if given)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} e2e starts {name}: {' '.join(command)}\n".encode())
            log.flush()
            popen = subprocess.Popen(  # noqa: S603 - our own command lines
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=_group_of(user),
                extra_groups=[] if user else None,
            )
        child = Child(name, popen, log_path, command)
        self.children.append(child)
        return child

    def reap_orphans(self) -> None:
        """Wait for dead processes re-parented to the harness (never for the children it started itself)."""
        own = {child.pid for child in self.children}
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in own:
                continue
            try:
                info = read_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            if info.ppid == me and info.state == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(info.pid, os.WNOHANG)

    def stop_all(self, grace: float = 20.0) -> list[str]:
        """Stop every child, newest first, then SIGKILL whatever descends from the harness; returns what was left
        running after the stops (empty when all went as planned)."""
        for child in reversed(self.children):
            child.stop(grace)
        if not self.subreaper:
            return []
        leftovers = self.sweep()
        self.reap_orphans()
        return leftovers

    def sweep(self, timeout: float = 10.0) -> list[str]:
        """SIGKILL every remaining descendant of the harness (bounded); returns a description of each."""
        described: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            table = process_table()
            pids = descendants(os.getpid(), table)
            if not pids:
                break
            described += [f"{pid} ({table[pid].name})" for pid in sorted(pids) if pid in table]
            send(pids, signal.SIGKILL)
            time.sleep(0.2)
            self.reap_orphans()
            for child in self.children:
                child.popen.poll()
        return sorted(set(described))


def _group_of(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid
