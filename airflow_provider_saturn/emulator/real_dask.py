"""Real-Dask mode: each started Dask cluster runs a real ``distributed`` scheduler and its workers on this machine
(opt-in, loopback only), with mutual TLS from the cluster's own CA (``dask_tls.py``).

A start gives the cluster a private directory (0700) holding its CA certificate and the keys and certificates of
its scheduler, of its workers and of the emulator's readiness probe; then the scheduler and ``n_workers`` workers
(``nthreads`` each) start, each a ``dask_launcher.py`` process in a process group of its own, listening on
127.0.0.1 only, every connection encrypted and authenticated by a certificate of that CA. The cluster stays
``pending`` until the scheduler answers the probe over mutual TLS with all its workers joined, then turns
``running``; a scheduler that does not within ``start_timeout`` seconds, or a process that exits unasked, puts
the cluster in ``error`` (with the reason) and ends its processes.

One supervising thread per cluster starts, watches and ends its processes; every change to a cluster record is
made under the state's lock, and so is every process start (so that a stop or shutdown sees every process).
A stop (of the cluster, of its workspace, a reset, the emulator's stop or the interpreter's exit) sends SIGTERM
to each process group, SIGKILL after ``kill_grace_seconds``, kills what left the groups by the cluster's marker
(``pod_marker.py``, Linux), and removes the private directory; the cluster is ``stopping`` until then, then
``stopped``. The launcher also ends on its own when the emulator's process is gone.

Bounded: at most ``max_processes`` processes (schedulers and workers of every cluster) at once, a start beyond it
puts the cluster in ``error``; at most ``max_workers`` workers and ``max_threads`` threads per worker a cluster.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_saturn.emulator.dask_tls import ClusterAuthorities, ClusterAuthority
from airflow_provider_saturn.emulator.lifecycle import ACTIVE, EmulatorError, Lifecycle
from airflow_provider_saturn.emulator.pod_marker import MARKER_VARIABLE, kill_marked, new_marker
from airflow_provider_saturn.emulator.pod_process import BASE_PATH, leader_exited, signal_group

logger = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("dask_launcher.py")
SCHEDULER_FILE = "scheduler.json"
POLL_SECONDS = 0.1
"""How often a starting cluster is probed, and how often a running one's processes are checked (x5)."""
PROBE_TIMEOUT = 3.0
REAP_SECONDS = 5.0
"""How long a SIGKILLed process is waited for before it is given up on (logged)."""
LOG_TAIL_BYTES = 2048
MAX_REASON = 300
INSTALL_HINT = "pip install 'airflow-provider-saturn[dask]'"


def check_available() -> None:
    """A ``ValueError`` saying how to install ``distributed`` when it cannot be imported here."""
    if importlib.util.find_spec("distributed") is None:
        raise ValueError(f"real_dask: the `distributed` package is not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class RealDaskSettings:
    """How real Dask clusters run.

    :param max_processes: schedulers and workers of every cluster at once, at most.
    :param max_workers: workers of one cluster, at most (``/scale`` and a start beyond it are refused).
    :param max_threads: threads of one worker, at most.
    :param start_timeout: seconds for a cluster's scheduler to answer with its workers joined, else ``error``.
    :param kill_grace_seconds: from SIGTERM to SIGKILL.
    """

    max_processes: int = 12
    max_workers: int = 16
    max_threads: int = 16
    start_timeout: float = 60.0
    kill_grace_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 2 <= self.max_processes <= 256:
            raise ValueError(f"max_dask_processes: from 2 to 256, not {self.max_processes!r}")
        if not 1 <= self.max_workers <= 64:
            raise ValueError(f"max_workers: from 1 to 64, not {self.max_workers!r}")
        if not 1 <= self.max_threads <= 256:
            raise ValueError(f"max_threads: from 1 to 256, not {self.max_threads!r}")
        if not 0 < self.start_timeout <= 3600:
            raise ValueError(f"dask_start_timeout: more than 0, at most 3600 seconds, not {self.start_timeout!r}")
        if not 0 <= self.kill_grace_seconds <= 300:
            raise ValueError(f"kill_grace_seconds: from 0 to 300, not {self.kill_grace_seconds!r}")


class ProcessLifecycle(Lifecycle):
    """A real cluster's lifecycle: time moves nothing on, its processes do (``RealCluster``)."""

    def settle(self, now: float, transition_seconds: float) -> None:
        return


class ClusterState(Protocol):
    """What real clusters need of the emulator's state: its lock, its clock, its Dask cluster records."""

    lock: Any
    dask_clusters: dict[str, Any]

    def now(self) -> float:
        """Monotonic seconds."""


class StartFailure(Exception):
    """Why a cluster could not come up or stay up (shown as its error)."""


@dataclass(eq=False)
class ClusterProcess:
    """One process of a cluster (its group's leader): never signalled once reaped."""

    name: str
    process: subprocess.Popen[bytes]
    term_sent_at: float | None = None
    released: bool = False
    """Set (under the state's lock) before it is reaped: from then on its group is never signalled."""


@dataclass(eq=False)
class RealCluster:
    """The processes of one start of one Dask cluster, and the thread that runs them."""

    cluster_id: str
    nthreads: int
    target_workers: int
    authority: ClusterAuthority
    marker: str = field(default_factory=new_marker)
    directory: Path | None = None
    scheduler: ClusterProcess | None = None
    workers: list[ClusterProcess] = field(default_factory=list)
    retiring: list[ClusterProcess] = field(default_factory=list)
    address: str | None = None
    dashboard_port: int | None = None
    ready: bool = False
    stopping: bool = False
    worker_count: int = 0
    wakeup: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def processes(self) -> list[ClusterProcess]:
        return [*([self.scheduler] if self.scheduler else []), *self.workers, *self.retiring]

    def reserved(self) -> int:
        """Process slots it holds: what it runs once stopping, else its scheduler and target workers."""
        if self.stopping:
            return len(self.processes())
        return 1 + max(self.target_workers, len(self.workers)) + len(self.retiring)

    def pids(self) -> list[int]:
        return [member.process.pid for member in self.processes()]


class DaskProcesses:
    """Runs real Dask clusters for one emulator (the state's ``dask_backend``); made and shut down with it."""

    def __init__(self, state: ClusterState, authorities: ClusterAuthorities, settings: RealDaskSettings) -> None:
        check_available()
        self.state = state
        self.authorities = authorities
        self.settings = settings
        self._clusters: dict[str, RealCluster] = {}
        """The current start of each cluster that has one."""
        self._ending: set[RealCluster] = set()
        """Starts replaced by a newer one while their processes end."""
        self._markers: set[str] = set()
        self._closing = False
        self._owner_pid = os.getpid()
        """A forked child inherits this object (and its ``atexit`` hook): it must never end the parent's clusters."""

    # ------------------------------------------------------------ the state's hooks (callers hold its lock)

    def lifecycle(self) -> Lifecycle:
        return ProcessLifecycle()

    def start(self, record: Any) -> None:
        """Start the cluster's processes (the record was just moved to ``pending``); an ``error`` status when it
        cannot (shutting down, over a bound)."""
        reason = self._refusal(record)
        if reason is not None:
            record.life.move("error", self.state.now())
            record.life.message = reason
            return
        previous = self._clusters.pop(record.id, None)
        if previous is not None:
            self._ending.add(previous)
        cluster = RealCluster(
            cluster_id=record.id,
            nthreads=record.nthreads,
            target_workers=record.n_workers,
            authority=self.authorities.get(record.id),
        )
        self._clusters[record.id] = cluster
        self._markers.add(cluster.marker)
        cluster.thread = threading.Thread(
            target=self._supervise, args=(cluster,), name=f"saturn-emulator-dask-{record.id[:8]}", daemon=True
        )
        cluster.thread.start()

    def _refusal(self, record: Any) -> str | None:
        if self._closing:
            return "The emulator is shutting down"
        if record.n_workers > self.settings.max_workers:
            return (
                f"n_workers is {record.n_workers}: the emulator runs at most {self.settings.max_workers} workers "
                "per Dask cluster"
            )
        if record.nthreads > self.settings.max_threads:
            return f"nthreads is {record.nthreads}: the emulator runs at most {self.settings.max_threads} per worker"
        needed = 1 + record.n_workers
        used = self.processes_in_use()
        if used + needed > self.settings.max_processes:
            return (
                f"Starting this Dask cluster needs {needed} processes (a scheduler and {record.n_workers} workers) "
                f"and {used} of the emulator's {self.settings.max_processes} already run: stop or scale down "
                "another Dask cluster"
            )
        return None

    def stop(self, cluster_id: str) -> bool:
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            return False
        cluster.stopping = True
        cluster.wakeup.set()
        return True

    def scale(self, record: Any, n_workers: int) -> None:
        if n_workers > self.settings.max_workers:
            raise EmulatorError(
                400, f"n: the emulator runs at most {self.settings.max_workers} workers per Dask cluster"
            )
        cluster = self._clusters.get(record.id)
        if cluster is None or cluster.stopping:
            return
        more = n_workers - max(cluster.target_workers, len(cluster.workers))
        used = self.processes_in_use()
        if more > 0 and used + more > self.settings.max_processes:
            raise EmulatorError(
                409,
                f"Scaling to {n_workers} workers needs {more} more processes and {used} of the emulator's "
                f"{self.settings.max_processes} already run: stop or scale down another Dask cluster",
            )
        cluster.target_workers = n_workers
        cluster.wakeup.set()

    # ------------------------------------------------------------ reading (callers hold the state's lock)

    def processes_in_use(self) -> int:
        return sum(cluster.reserved() for cluster in [*self._clusters.values(), *self._ending])

    def endpoint(self, cluster_id: str) -> tuple[str, int | None] | None:
        """The scheduler's address and dashboard port of a running cluster (``None`` if it is not running)."""
        cluster = self._clusters.get(cluster_id)
        if cluster is None or not cluster.ready or cluster.stopping or cluster.address is None:
            return None
        return cluster.address, cluster.dashboard_port

    def pids(self, cluster_id: str | None = None) -> list[int]:
        """The process ids of a cluster's processes (every cluster's without an id), ending ones included."""
        clusters = [*self._clusters.values(), *self._ending]
        return [pid for cluster in clusters if cluster_id in (None, cluster.cluster_id) for pid in cluster.pids()]

    # ------------------------------------------------------------ one cluster (its own thread)

    def _supervise(self, cluster: RealCluster) -> None:
        try:
            self._prepare(cluster)
            self._bring_up(cluster)
            self._watch(cluster)
        except StartFailure as failure:
            self._fail(cluster, str(failure))
        except Exception as error:  # any failure ends the cluster, with its reason
            logger.exception("The Saturn emulator's Dask cluster %s failed", cluster.cluster_id)
            self._fail(cluster, f"{type(error).__name__}: {error}"[:MAX_REASON])
        finally:
            self._end(cluster)

    def _prepare(self, cluster: RealCluster) -> None:
        directory = Path(tempfile.mkdtemp(prefix="saturn-emulator-dask-"))  # 0700
        cluster.directory = directory
        (directory / "tmp").mkdir(mode=0o700)
        (directory / "ca.pem").write_bytes(cluster.authority.certificate_pem)
        for role, server in (("scheduler", True), ("worker", True), ("probe", False)):
            identity = cluster.authority.issue(f"dask-{role}-{cluster.cluster_id[:8]}", server=server)
            key_path = directory / f"{role}-key.pem"
            key_path.touch(mode=0o600)
            key_path.write_bytes(identity.key_pem)
            (directory / f"{role}.pem").write_bytes(identity.certificate_pem)

    def _environment(self, cluster: RealCluster) -> dict[str, str]:
        """Never the emulator's own environment; its ``sys.path``, so that workers import what it imports (as the
        pods of one image would)."""
        assert cluster.directory is not None
        return {
            "PATH": BASE_PATH,
            "LANG": "C.UTF-8",
            "HOME": str(cluster.directory),
            "TMPDIR": str(cluster.directory / "tmp"),
            "DASK_TEMPORARY_DIRECTORY": str(cluster.directory / "tmp"),
            "DASK_LOGGING__DISTRIBUTED": "warning",
            "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry),
            MARKER_VARIABLE: cluster.marker,
        }

    def _spawn(self, cluster: RealCluster, name: str, arguments: list[str]) -> ClusterProcess | None:
        """Start one process of the cluster, under the lock (none once it is stopping)."""
        assert cluster.directory is not None
        with self.state.lock:
            if cluster.stopping or self._closing:
                return None
            with open(cluster.directory / f"{name}.log", "ab") as log:
                process = subprocess.Popen(  # noqa: S603 - our own launcher, with our own interpreter
                    [sys.executable, "-P", str(LAUNCHER), *arguments],
                    cwd=cluster.directory,
                    env=self._environment(cluster),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            return ClusterProcess(name, process)

    def _spawn_worker(self, cluster: RealCluster) -> None:
        assert cluster.directory is not None
        name = f"worker-{cluster.worker_count}"
        member = self._spawn(
            cluster,
            name,
            ["worker", str(cluster.directory), str(os.getpid()), "--name", name, "--nthreads", str(cluster.nthreads)],
        )
        if member is not None:
            cluster.worker_count += 1
            with self.state.lock:
                cluster.workers.append(member)

    def _bring_up(self, cluster: RealCluster) -> None:
        """Start the scheduler and the workers (the workers wait for its address), then probe until it answers
        with every worker joined; ``running`` then, a ``StartFailure`` past ``start_timeout``."""
        assert cluster.directory is not None
        deadline = time.monotonic() + self.settings.start_timeout
        scheduler = self._spawn(cluster, "scheduler", ["scheduler", str(cluster.directory), str(os.getpid())])
        if scheduler is None:
            return
        with self.state.lock:
            cluster.scheduler = scheduler
        self._reconcile(cluster)
        probe = _Probe(cluster.directory)
        while not cluster.stopping:
            self._check_alive(cluster)
            self._reconcile(cluster)
            if cluster.address is None:
                cluster.address, cluster.dashboard_port = _read_scheduler_file(cluster.directory)
            if cluster.address is not None and probe.workers(cluster.address) >= cluster.target_workers:
                with self.state.lock:
                    self._mark_running(cluster)
                return
            if time.monotonic() > deadline:
                raise StartFailure(
                    f"The Dask scheduler did not answer with its {cluster.target_workers} workers within "
                    f"{self.settings.start_timeout:g} s{_log_tail(cluster.directory / 'scheduler.log')}"
                )
            cluster.wakeup.wait(POLL_SECONDS)
            cluster.wakeup.clear()

    def _mark_running(self, cluster: RealCluster) -> None:
        cluster.ready = True
        record = self._current_record(cluster)
        if record is not None and record.life.status == "pending":
            record.life.move("running", self.state.now())

    def _watch(self, cluster: RealCluster) -> None:
        """Until a stop: workers follow the target count; a process that exits unasked is a failure."""
        while not cluster.stopping:
            self._check_alive(cluster)
            self._reconcile(cluster)
            cluster.wakeup.wait(POLL_SECONDS * 5)
            cluster.wakeup.clear()

    def _check_alive(self, cluster: RealCluster) -> None:
        for member in [*([cluster.scheduler] if cluster.scheduler else []), *cluster.workers]:
            if leader_exited(member.process.pid):
                signal_group(member.process.pid, signal.SIGKILL)  # what is left of its group
                code = self._reap(member)
                with self.state.lock:
                    if member is cluster.scheduler:
                        cluster.scheduler = None
                    else:
                        cluster.workers.remove(member)
                log = cluster.directory / f"{member.name}.log" if cluster.directory else None
                what = "scheduler" if member.name == "scheduler" else f"Dask {member.name}"
                tail = _log_tail(log) if log else ""
                raise StartFailure(f"The {what} exited with code {code}{tail}")
        self._reap_retiring(cluster)

    def _reconcile(self, cluster: RealCluster) -> None:
        while len(cluster.workers) < cluster.target_workers and not cluster.stopping:
            self._spawn_worker(cluster)
        while len(cluster.workers) > cluster.target_workers:
            with self.state.lock:
                member = cluster.workers.pop()
                cluster.retiring.append(member)
            signal_group(member.process.pid, signal.SIGTERM)
            member.term_sent_at = time.monotonic()

    def _reap_retiring(self, cluster: RealCluster) -> None:
        """Retired workers that have ended are reaped; past the grace, SIGKILLed first."""
        for member in list(cluster.retiring):
            overdue = time.monotonic() - (member.term_sent_at or 0.0) > self.settings.kill_grace_seconds
            if leader_exited(member.process.pid) or overdue:
                signal_group(member.process.pid, signal.SIGKILL)
                self._reap(member)
                with self.state.lock:
                    cluster.retiring.remove(member)

    def _fail(self, cluster: RealCluster, reason: str) -> None:
        with self.state.lock:
            record = self._current_record(cluster)
            if record is not None and record.life.status in ACTIVE and not cluster.stopping:
                record.life.move("error", self.state.now())
                record.life.message = reason
            cluster.stopping = True

    def _end(self, cluster: RealCluster) -> None:
        """End every process (SIGTERM, SIGKILL after the grace), sweep the marker, remove the directory; then the
        cluster is ``stopped`` if a stop asked for it."""
        with self.state.lock:
            cluster.stopping = True
            members = cluster.processes()
        self._end_processes(members)
        left = kill_marked({cluster.marker})
        if cluster.directory is not None:
            shutil.rmtree(cluster.directory, ignore_errors=True)
        with self.state.lock:
            cluster.scheduler, cluster.workers, cluster.retiring = None, [], []
            if left == 0:
                self._markers.discard(cluster.marker)
            else:
                logger.warning("The Saturn emulator could not end %d process(es) of a Dask cluster", left)
            self._ending.discard(cluster)
            if self._clusters.get(cluster.cluster_id) is cluster:
                del self._clusters[cluster.cluster_id]
                record = self.state.dask_clusters.get(cluster.cluster_id)
                if record is not None and record.life.status == "stopping":
                    record.life.move("stopped", self.state.now())

    def _reap(self, member: ClusterProcess) -> int | None:
        """Wait for the process (after its group was SIGKILLed); its exit code, ``None`` if it did not end."""
        with self.state.lock:
            member.released = True
        try:
            return member.process.wait(timeout=REAP_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("The Saturn emulator's Dask %s (pid %d) did not end", member.name, member.process.pid)
            return None

    def _end_processes(self, members: list[ClusterProcess]) -> None:
        """SIGTERM every group, wait up to the grace for their leaders, SIGKILL every group, reap every leader."""
        for member in members:
            if not leader_exited(member.process.pid):
                signal_group(member.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.kill_grace_seconds
        while time.monotonic() < deadline and not all(leader_exited(member.process.pid) for member in members):
            time.sleep(POLL_SECONDS / 2)
        for member in members:
            signal_group(member.process.pid, signal.SIGKILL)  # what is left of the group: its leader is unreaped
            self._reap(member)

    def _current_record(self, cluster: RealCluster) -> Any:
        """The cluster's record, if this start is still its current one (callers hold the lock)."""
        if self._clusters.get(cluster.cluster_id) is not cluster:
            return None
        return self.state.dask_clusters.get(cluster.cluster_id)

    # ------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """End every cluster's processes and wait for them, bounded by the grace plus a few seconds; kill by
        marker what is left. Idempotent; nothing in a forked child (the clusters are its parent's)."""
        if os.getpid() != self._owner_pid:
            return
        with self.state.lock:
            self._closing = True
            clusters = [*self._clusters.values(), *self._ending]
            for cluster in clusters:
                cluster.stopping = True
                cluster.wakeup.set()
        deadline = time.monotonic() + self.settings.kill_grace_seconds + REAP_SECONDS + 2
        for cluster in clusters:
            if cluster.thread is not None:
                cluster.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.state.lock:
            markers = set(self._markers)
            stuck = [member for cluster in clusters for member in cluster.processes()]
            for member in stuck:  # a thread that did not end in time: its processes end now
                if not member.released:
                    signal_group(member.process.pid, signal.SIGKILL)
        left = kill_marked(markers)
        if left:
            logger.warning("The Saturn emulator could not end %d process(es) of its Dask clusters", left)


class _Probe:
    """Asks a scheduler over mutual TLS (the emulator's own client certificate) how many workers it has."""

    def __init__(self, directory: Path) -> None:
        from distributed.security import Security

        self.security = Security(
            tls_ca_file=str(directory / "ca.pem"),
            tls_client_cert=str(directory / "probe.pem"),
            tls_client_key=str(directory / "probe-key.pem"),
            require_encryption=True,
        )

    def workers(self, address: str) -> int:
        """The scheduler's worker count; -1 if it does not answer (yet)."""
        try:
            return asyncio.run(asyncio.wait_for(self._identity(address), PROBE_TIMEOUT))
        except (OSError, TimeoutError, ValueError, KeyError, TypeError):
            return -1

    async def _identity(self, address: str) -> int:
        from distributed.core import rpc

        async with rpc(address, connection_args=self.security.get_connection_args("client"), timeout=2) as remote:
            identity = await remote.identity()
        return len(identity["workers"])


def _read_scheduler_file(directory: Path) -> tuple[str | None, int | None]:
    path = directory / SCHEDULER_FILE
    if not path.exists():
        return None, None
    data = json.loads(path.read_text(encoding="utf-8"))
    port = data.get("dashboard_port")
    return str(data["address"]), port if isinstance(port, int) else None


def _log_tail(path: Path) -> str:
    """The last line of a process's log, as ``": <line>"`` (bounded), or nothing."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - LOG_TAIL_BYTES))
            lines = [line for line in file.read().decode("utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:MAX_REASON]}" if lines else ""
