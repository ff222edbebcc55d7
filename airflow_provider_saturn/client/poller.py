"""One poll answers many waits: the waits of one triggerer that share a client and a poll interval share a
:class:`SharedPoller`.

At each tick (every poll interval) the poller reads every resource that some wait is waiting on, once, and
answers all those waits at once:

- job runs, one read of each job's runs (``runtimesummary``) for all the runs of that job;
- Jupyter servers, Dask clusters and deployments, one paged read of Saturn's active resources
  (``/api/active/resources``, a thousand a page) when the waits outnumber what that list cost last time;
  otherwise, or for a resource missing from the list (it may have stopped or failed), a read of its own.

A wait cannot tell whether a shared poll answered it: it gets the resource as a read of its own would give
it, or the exception such a read would raise. Cancelling one wait touches no other; a poller with no waits
left stops. Saturn asks for no more than one status read per resource every 10 s; a shared poll makes that
one read per resource per interval *however many waits* follow it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_saturn.client.async_client import AsyncSaturnClient
from airflow_provider_saturn.client.async_reads import active_resources, job_runs
from airflow_provider_saturn.client.errors import SaturnError, SaturnTransientError
from airflow_provider_saturn.client.job_runs import split_job_run_key
from airflow_provider_saturn.client.kinds import resource_wire
from airflow_provider_saturn.client.responses import missing_from_list

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (kind, resource id)
FIRST_TICK_DELAY = 0.05  # the first waits to arrive are answered this soon, together
# A list of active resources that fails this many ticks in a row is given up for reads of their own (until it
# works again): the failure is more likely Saturn's than the list's the first times.
LIST_FAILURES_BEFORE_FALLBACK = 2


class SharedPoller:
    """Answers the waits on one client at one poll interval, at each tick.

    :param client: the async client of the waits (same event loop, Saturn, token and settings).
    :param interval: seconds between ticks.
    """

    def __init__(self, client: AsyncSaturnClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.followers = 0
        self._waiting: dict[Key, list[asyncio.Future[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._next_tick: float | None = None
        # What the list of active resources cost at its last read, to decide whether it is worth reading.
        self._list_pages = 1
        self._list_absent = 0
        self._list_usable = True
        self._list_failures = 0  # in a row
        self.stats = {"ticks": 0, "list_pages": 0, "reads": 0, "job_reads": 0}

    def seconds_to_next_tick(self) -> float | None:
        """How long until the next tick; ``None`` when the poller is not running (its first tick comes
        ``FIRST_TICK_DELAY`` after the first wait asks)."""
        if self._next_tick is None or self._task is None or self._task.done():
            return None
        return max(self._next_tick - asyncio.get_running_loop().time(), 0.0)

    async def next_answer(self, kind: str, resource_id: str) -> dict[str, Any]:
        """The resource as read at the next tick; raises what that read raised."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((kind, resource_id), []).append(future)
        self._start()
        return await future

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._next_tick = asyncio.get_running_loop().time() + FIRST_TICK_DELAY
            self._task = asyncio.get_running_loop().create_task(self._run(), name="saturn-shared-poll")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting or self.followers:
                assert self._next_tick is not None
                await asyncio.sleep(max(self._next_tick - loop.time(), 0))
                self._next_tick = max(self._next_tick + self.interval, loop.time())
                batch, self._waiting = self._waiting, {}
                if batch:
                    await self._answer(batch)
        finally:
            self._next_tick = None
            _forget(self)

    async def _answer(self, batch: dict[Key, list[asyncio.Future[dict[str, Any]]]]) -> None:
        """Read every resource of the batch once and settle every wait's future with its answer."""
        self.stats["ticks"] += 1
        try:
            answers = await self._read_all(list(batch))
        except Exception as error:  # never let one tick's surprise end the poller: each wait gets it
            log.warning("A shared Saturn poll failed: %s", error)
            answers = dict.fromkeys(batch, error)
        for key, futures in batch.items():
            answer = answers.get(key)
            for future in futures:
                if future.done():  # its wait was cancelled
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                elif answer is None:
                    future.set_exception(SaturnTransientError("The shared poll gave no answer for it"))
                else:
                    future.set_result(answer)

    async def _read_all(self, keys: list[Key]) -> dict[Key, Any]:
        runs = [key for key in keys if key[0] == "job_run"]
        others = [key for key in keys if key[0] != "job_run"]
        answers: dict[Key, Any] = {}
        found: dict[Key, dict[str, Any]] = {}
        alone = others
        if self._list_worth_it(len(others)):
            try:
                found = await self._read_active_list(others)
            except SaturnTransientError as error:  # each of them gets it, as a read of its own would
                answers.update(dict.fromkeys(others, error))
                alone = []
            else:
                answers.update({key: found[key] for key in others if key in found})
                alone = [key for key in others if key not in found]
        jobs = _by_job(runs)
        results = await asyncio.gather(
            *(self._read_one(key) for key in alone),
            *(self._read_job(job_id, job_keys) for job_id, job_keys in jobs),
            return_exceptions=True,
        )
        for key, result in zip(alone, results[: len(alone)], strict=True):
            answers[key] = result
        for (_, job_keys), result in zip(jobs, results[len(alone) :], strict=True):
            for key in job_keys:
                answers[key] = result if isinstance(result, BaseException) else result[key]
        return answers

    def _list_worth_it(self, count: int) -> bool:
        """The list of active resources is read when the waits outnumber its pages (plus the resources it did
        not hold last time, which are read on their own anyway)."""
        return self._list_usable and count > self._list_pages + self._list_absent

    async def _read_active_list(self, keys: list[Key]) -> dict[Key, dict[str, Any]]:
        try:
            found, pages = await active_resources(self.client)
        except SaturnTransientError as error:
            self._list_failures += 1
            if self._list_failures <= LIST_FAILURES_BEFORE_FALLBACK:
                # Saturn is most likely down for every read: the waits poll on, and no herd of reads of their
                # own hits it while it recovers.
                raise
            log.warning("Could not read Saturn's active resources again (%s); reading each on its own", error)
            return {}
        except SaturnError as error:  # e.g. refused for this token: stop trying
            log.warning("Saturn's list of active resources is not usable (%s); reading each on its own", error)
            self._list_usable = False
            return {}
        self.stats["list_pages"] += pages
        self._list_failures = 0
        self._list_pages = pages
        self._list_absent = sum(1 for key in keys if key not in found)
        return found

    async def _read_one(self, key: Key) -> dict[str, Any]:
        self.stats["reads"] += 1
        return await self.client.get_resource(*key)

    async def _read_job(self, job_id: str, keys: list[Key]) -> dict[Key, Any]:
        """The runs waited on of one job, from one read of the job's runs; a run it lacks is not found."""
        self.stats["job_reads"] += 1
        runs = await job_runs(self.client, job_id)
        label = resource_wire("job_run").label
        listed = f"api/jobs/{job_id}/runtimesummary"
        return {key: runs[key[1]] if key[1] in runs else missing_from_list(label, key[1], listed) for key in keys}

    @asynccontextmanager
    async def following(self) -> AsyncIterator[SharedPoller]:
        """Count a wait as following this poller while it runs, so that the poller runs as long as it does."""
        self.followers += 1
        try:
            yield self
        finally:
            self.followers -= 1


def _by_job(keys: list[Key]) -> list[tuple[str, list[Key]]]:
    """Job-run keys grouped by job, in a stable order (keys already checked by the wait that made them)."""
    groups: dict[str, list[Key]] = defaultdict(list)
    for key in keys:
        job_id, _ = split_job_run_key(key[1])
        groups[job_id].append(key)
    return sorted(groups.items())


_POLLERS: weakref.WeakKeyDictionary[AsyncSaturnClient, dict[float, SharedPoller]] = weakref.WeakKeyDictionary()


def shared_poller(client: AsyncSaturnClient, interval: float) -> SharedPoller:
    """The poller of this client at this interval, made on first use; it is forgotten once it has no waits."""
    pollers = _POLLERS.setdefault(client, {})
    poller = pollers.get(interval)
    if poller is None:
        poller = pollers[interval] = SharedPoller(client, interval)
    return poller


def _forget(poller: SharedPoller) -> None:
    pollers = _POLLERS.get(poller.client)
    if pollers is not None and pollers.get(poller.interval) is poller and not poller.followers:
        del pollers[poller.interval]
        if not pollers:
            _POLLERS.pop(poller.client, None)
