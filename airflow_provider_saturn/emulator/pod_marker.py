"""A runner-mode pod's marker: an environment variable its processes inherit, by which the processes that left
the pod's process group (``setsid``, ``Popen(start_new_session=True)``, a double-forked daemon) are found and
killed when the pod ends and when the emulator shuts down.

Every process a pod starts inherits ``SATURN_EMULATOR_POD=<random id>`` (32 hex digits, one per pod). The
kernel keeps the environment a process was started with in ``/proc/<pid>/environ`` whatever session or group
it moves to, so a sweep reads that file for every process of this machine and SIGKILLs each one whose
environment holds the exact entry ``SATURN_EMULATOR_POD=<id>`` of a pod being swept: never a process without it
(a longer or shorter value, another variable holding the id, or the id in a command line are someone else's),
never the process that runs the sweep. Each process is checked again through a pidfd before it is signalled, so
an id reused in between is never signalled by mistake.

Bounded: a sweep looks at most at ``MAX_PROCESSES`` processes a round, reads at most ``MAX_ENVIRON_BYTES`` of
each (more than the kernel lets ``execve`` pass), and makes at most ``MAX_ROUNDS`` rounds (a round again while
the last one found something: a process may fork while it is being killed).

Limits:

- Linux only: elsewhere ``kill_marked`` finds nothing and a pod's processes are ended by process group alone
  (a process that leaves its group outlives its pod there). The variable is set on every platform.
- A process that wipes its environment (``env -i``), unsets or changes the variable, or overwrites its own
  environment block before it leaves the group carries no marker and is not found; nor is a process whose
  ``environ`` this user may not read (another user's, a setuid program's).
- ``prctl(PR_SET_CHILD_SUBREAPER)`` is not used: the emulator often runs inside a process it does not own (the
  pytest process, an Airflow worker), which would then inherit every orphan of every pod and have to reap
  zombies it knows nothing of.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Collection, Iterator

MARKER_VARIABLE = "SATURN_EMULATOR_POD"
"""The environment variable that marks a pod's processes."""
MAX_PROCESSES = 100_000
"""Processes looked at in one round of a sweep at most (a machine has a few thousand)."""
MAX_ENVIRON_BYTES = 8 * 1024 * 1024
"""What is read of one process's environment at most: more than ``execve`` accepts (6 MiB at most)."""
MAX_ROUNDS = 20
"""Rounds of one sweep at most: another round follows one that found a marked process."""
ROUND_PAUSE = 0.01
"""Seconds between two rounds: time for the processes just killed to leave ``/proc``'s live ones."""
PROC = "/proc"


def new_marker() -> str:
    """A fresh random marker for one pod (not guessable from any other)."""
    return secrets.token_hex(16)


def supported() -> bool:
    """Whether marked processes can be found here (Linux, with ``/proc``)."""
    return sys.platform.startswith("linux") and os.path.isdir(PROC)


def _marker_in(pid: int, entries: frozenset[bytes]) -> bool:
    """Whether the environment process ``pid`` was started with holds one of ``entries`` (``NAME=value``)
    exactly; a process that has gone, or whose environment this user may not read, does not."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as file:
            environ = file.read(MAX_ENVIRON_BYTES)
    except OSError:  # gone (ENOENT, ESRCH), another user's (EACCES), a zombie's empty one reads as nothing
        return False
    prefix = MARKER_VARIABLE.encode() + b"="
    return any(entry in entries for entry in environ.split(b"\0") if entry.startswith(prefix))


def _pids() -> Iterator[int]:
    """The ids of the processes of this machine, at most ``MAX_PROCESSES`` of them, never this process's."""
    own = os.getpid()
    with os.scandir(PROC) as listing:
        for count, entry in enumerate(listing):
            if count >= MAX_PROCESSES:
                return
            if entry.name.isdigit() and int(entry.name) != own:
                yield int(entry.name)


def _kill(pid: int, entries: frozenset[bytes]) -> bool:
    """SIGKILL process ``pid`` if it still holds a marker once pinned by a pidfd; whether it was signalled."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd here (a kernel before 5.3): checked again just before, by its id
        if not _marker_in(pid, entries):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return True
    try:
        if not _marker_in(pid, entries):  # the id now names another process (or it has just gone)
            return False
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile: the pidfd names only it
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    finally:
        os.close(pidfd)


def kill_marked(markers: Collection[str]) -> int:
    """SIGKILL every process of this machine that carries one of ``markers`` (never this process), round after
    round until a round finds none; how many were still found in the last round (0: none is left).

    Runs outside any lock (a round reads ``/proc`` once); nothing to do off Linux or without markers.
    """
    if not markers or not supported():
        return 0
    entries = frozenset(f"{MARKER_VARIABLE}={marker}".encode() for marker in markers)
    found = 0
    for round_number in range(MAX_ROUNDS):
        if round_number:
            time.sleep(ROUND_PAUSE)
        found = sum(_kill(pid, entries) for pid in _pids() if _marker_in(pid, entries))
        if not found:
            return 0
    return found
