"""One process of a runner-mode pod: started through ``/bin/sh -c`` in a process group of its own, its output
cut into log lines, its group signalled (and, once it has ended, what left the group swept: ``pod_marker.py``).

A process group is only ever signalled while its leader has not been reaped: ``leader_exited`` asks the kernel
with ``WNOWAIT``, so an exited leader stays a zombie (its id, which is the group's id, cannot be reused) until
the caller has signalled what is left of the group and then reaps it with ``Popen.wait``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

TICK = 0.05
"""How often (seconds) ``follow`` checks the process's end and calls its ``tick``."""
DRAIN_SECONDS = 0.2
"""How long output is still read after the main process ended, before the rest of its group is killed."""
CLOSE_SECONDS = 1.0
"""How long the pipes are read after the group was killed (a process that left the group unmarked may hold them)."""
MAX_LINE_BYTES = 16 * 1024
"""A longer line is cut into pieces of at most this many bytes, as containerd and Docker cut log lines."""
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELL = "/bin/sh"


def base_environment(home: Path, python_dir: Path) -> dict[str, str]:
    """What every pod's environment starts from: never the emulator's own (nothing of this machine leaks)."""
    return {
        "PATH": f"{python_dir}:{BASE_PATH}",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
    }


def write_python_shims(directory: Path, python: str) -> None:
    """``python`` and ``python3`` in ``directory``: scripts that run ``python`` (so a venv stays a venv)."""
    for name in ("python", "python3"):
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)


def spawn(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Run ``script`` through ``/bin/sh -c`` in a new session (so a process group of its own), output piped."""
    return subprocess.Popen(  # noqa: S603 - runner mode runs what a client sends, by design (opt-in, loopback)
        [SHELL, "-c", script],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )


def leader_exited(pid: int) -> bool:
    """Whether the group leader ``pid`` (a child of this process) has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send ``signum`` to every process of the group (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def exit_code(returncode: int) -> int:
    """A shell-style exit code: ``128 + N`` for a process ended by signal ``N`` (as Kubernetes reports it)."""
    return 128 - returncode if returncode < 0 else returncode


def _utf8_cut(data: bytes, limit: int) -> int:
    """Where to cut ``data`` (longer than ``limit``) to at most ``limit`` bytes: before the UTF-8 character that
    straddles the limit, if one does (at most 3 bytes back), else at the limit."""
    cut = limit
    for _ in range(3):
        if (data[cut] & 0xC0) != 0x80:  # not a continuation byte: a character starts here
            return cut
        cut -= 1
    return cut if (data[cut] & 0xC0) != 0x80 else limit


class LineSplitter:
    """Bytes of one stream to log lines: cut at each newline, and every ``MAX_LINE_BYTES`` bytes of a longer
    line (never inside a UTF-8 character when it can be helped); undecodable bytes become U+FFFD."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """The complete lines (and full-length pieces of a longer one) that ``data`` finishes."""
        self._pending += data
        lines: list[str] = []
        while True:
            newline = self._pending.find(b"\n", 0, self.limit + 1)
            if newline >= 0:
                lines.append(self._take(newline, skip=1))
            elif len(self._pending) > self.limit:
                lines.append(self._take(_utf8_cut(bytes(self._pending[: self.limit + 1]), self.limit), skip=0))
            else:
                return lines

    def flush(self) -> list[str]:
        """What is left at the end of the stream, as a last line (none if nothing is left)."""
        return [self._take(len(self._pending), skip=0)] if self._pending else []

    def _take(self, size: int, skip: int) -> str:
        line = bytes(self._pending[:size]).decode("utf-8", errors="replace")
        del self._pending[: size + skip]
        return line


Lines = Callable[[list[str]], None]


def _read(selector: selectors.BaseSelector, streams: dict[int, LineSplitter], write: Lines) -> None:
    """Pass on the lines written within one tick."""
    for key, _ in selector.select(TICK):
        descriptor = int(key.fd)
        data = os.read(descriptor, 65536)
        if data:
            write(streams[descriptor].feed(data))
        else:
            selector.unregister(descriptor)
    if not selector.get_map():
        time.sleep(TICK)  # every stream closed: only the process's end is left to wait for


def follow(
    process: subprocess.Popen[bytes],
    write: Lines,
    tick: Callable[[], None],
    release: Callable[[], None],
    sweep: Callable[[], None],
) -> int:
    """Pass the lines of the process's stdout and stderr to ``write`` until its main process has ended and its
    output is drained (``DRAIN_SECONDS`` at most), calling ``tick`` (time bounds, kills) every ``TICK``; then
    kill what is left of its group, ``sweep`` what left the group (so it holds no pipe open either), ``release``
    the group (nobody may signal it after), reap it; its exit code.
    """
    assert process.stdout is not None and process.stderr is not None
    streams = {process.stdout.fileno(): LineSplitter(), process.stderr.fileno(): LineSplitter()}
    try:
        with selectors.DefaultSelector() as selector:
            for descriptor in streams:
                selector.register(descriptor, selectors.EVENT_READ)
            exited_at: float | None = None
            while exited_at is None or (selector.get_map() and time.monotonic() - exited_at <= DRAIN_SECONDS):
                _read(selector, streams, write)
                if exited_at is None and leader_exited(process.pid):
                    exited_at = time.monotonic()
                tick()
            signal_group(process.pid, signal.SIGKILL)  # what is left of its group: the leader is not reaped yet
            sweep()
            closing_until = time.monotonic() + CLOSE_SECONDS
            while selector.get_map() and time.monotonic() < closing_until:
                _read(selector, streams, write)
        for splitter in streams.values():
            write(splitter.flush())
    finally:
        signal_group(process.pid, signal.SIGKILL)  # still not reaped: the group's id is still this process's
        release()
        returncode = process.wait()
        process.stdout.close()
        process.stderr.close()
    return exit_code(returncode)
