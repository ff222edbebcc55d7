"""One poll answers many waits: the waits of one triggerer that share a client and a poll interval share a
:class:`SharedPoller`.

At each tick (every poll interval) the poller reads every resource that some wait is waiting on, once:

- job runs, one read of each job's runs (``runtimesummary``) for all the runs of that job;
- Jupyter servers, Dask clusters and deployments, one paged read of Saturn's active resources
  (``/api/active/resources``, a thousand a page) when the waits outnumber what that list cost last time;
  otherwise, or for a resource missing from the list (it may have stopped or failed), a read of its own.

A wait cannot tell whether a shared poll answered it: it gets the resource as a read of its own would give
it, or the exception such a read would raise. The waits stand alone: each is answered as soon as the read that
answers it ends (a slow read holds up no other wait, and no later tick: a resource whose read is still going
is read again at the first tick after it ends), and a failure (a bad key, a job whose read fails) answers
only the waits of what it failed to read. :func:`answer_by` keeps a wait's deadline whatever the reads do.
Cancelling one wait touches no other; a poller with no waits left stops. Saturn asks for no more than one
status read per resource every 10 s; a shared poll makes that one read per resource per interval *however
many waits* follow it.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
Batch = dict[Key, list[asyncio.Future[dict[str, Any] | None]]]  # the waits of one tick: their futures, by resource
FIRST_TICK_DELAY = 0.05  # the first waits to arrive are answered this soon, together
# A list of active resources that fails this many ticks in a row is given up for reads of their own (until it
# works again): the failure is more likely Saturn's than the list's the first times.
LIST_FAILURES_BEFORE_FALLBACK = 2
# A wait's last read, of its own at its deadline, is cut after this long (retries included): its event comes at
# most this long after the deadline, plus the event loop's own delays, whatever any read does.
DEADLINE_READ_SECONDS = 0.5


class SharedPoller:
    """Answers the waits on one client at one poll interval, at each tick.

    :param client: the async client of the waits (same event loop, Saturn, token and settings).
    :param interval: seconds between ticks.
    """

    def __init__(self, client: AsyncSaturnClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.followers = 0
        self._waiting: Batch = {}
        self._in_flight: set[Key] = set()  # the resources whose read has not ended yet
        self._ticks: set[asyncio.Task[None]] = set()  # the ticks whose reads have not all ended
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

    async def next_answer(self, kind: str, resource_id: str, by: float | None = None) -> dict[str, Any] | None:
        """The resource as read at the next tick; raises what that read raised. ``None`` when ``by`` (the event
        loop's time) comes first: the wait no longer waits for it, and no other wait is touched."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._waiting.setdefault((kind, resource_id), []).append(future)
        self._start()
        if by is None:
            return await future
        give_up = loop.call_at(by, _give_up, future)
        try:
            return await future
        finally:
            give_up.cancel()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._next_tick = asyncio.get_running_loop().time() + FIRST_TICK_DELAY
            self._task = asyncio.get_running_loop().create_task(self._run(), name="saturn-shared-poll")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting or self.followers or self._in_flight:
                assert self._next_tick is not None
                await asyncio.sleep(max(self._next_tick - loop.time(), 0))
                self._next_tick = max(self._next_tick + self.interval, loop.time())
                batch = self._take_batch()
                if batch:
                    self._in_flight.update(batch)
                    tick = loop.create_task(self._answer(batch), name="saturn-shared-poll-tick")
                    self._ticks.add(tick)
                    tick.add_done_callback(self._ticks.discard)
        finally:
            for tick in list(self._ticks):  # only when the loop itself is cancelled: no read is left in flight
                tick.cancel()
            self._next_tick = None
            _forget(self)

    def _take_batch(self) -> Batch:
        """The waits of this tick: all but those on a resource whose read is still in flight, which wait for the
        tick after it ends (one read at a time per resource, however slow Saturn is). A resource whose waits
        have all gone (cancelled, or given up at their deadline) is not read."""
        batch = {key: futures for key, futures in self._waiting.items() if key not in self._in_flight}
        for key in batch:
            del self._waiting[key]
        return {key: futures for key, futures in batch.items() if not all(future.done() for future in futures)}

    async def _answer(self, batch: Batch) -> None:
        """Read every resource of the batch once; each wait is answered as soon as the read that answers it
        ends, and a failure answers only the waits of what it failed to read."""
        self.stats["ticks"] += 1
        others = [key for key in batch if key[0] != "job_run"]
        jobs, refused = _by_job([key for key in batch if key[0] == "job_run"])
        try:
            for key, error in refused.items():
                self._settle(batch, key, error)
            reads = [self._answer_others(batch, others), *(self._answer_job(batch, *job) for job in jobs)]
            for outcome in await asyncio.gather(*reads, return_exceptions=True):
                if isinstance(outcome, Exception):  # never let one read's surprise end the poller
                    log.warning("A shared Saturn poll failed: %s", outcome)
        finally:
            for key in list(batch):
                self._settle(batch, key, SaturnTransientError("The shared poll gave no answer for it"))

    def _settle(self, batch: Batch, key: Key, answer: Any) -> None:
        """Answer the waits on ``key`` (a resource, or the exception its read raised), now."""
        self._in_flight.discard(key)
        for future in batch.pop(key, []):
            if future.done():  # its wait was cancelled
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _answer_others(self, batch: Batch, keys: list[Key]) -> None:
        """Jupyter servers, Dask clusters and deployments: from the list of active resources when it is worth
        reading, each of the others from a read of its own."""
        alone = keys
        if self._list_worth_it(len(keys)):
            try:
                found = await self._read_active_list(keys)
            except SaturnTransientError as error:  # each of them gets it, as a read of its own would
                for key in keys:
                    self._settle(batch, key, error)
                return
            alone = [key for key in keys if key not in found]
            for key in keys:
                if key in found:
                    self._settle(batch, key, found[key])
        await asyncio.gather(*(self._answer_one(batch, key) for key in alone))

    async def _answer_one(self, batch: Batch, key: Key) -> None:
        try:
            answer: Any = await self._read_one(key)
        except Exception as error:  # a bad id, a 404, a surprise: its own waits get it
            answer = error
        self._settle(batch, key, answer)

    async def _answer_job(self, batch: Batch, job_id: str, keys: list[Key]) -> None:
        try:
            answers: dict[Key, Any] = await self._read_job(job_id, keys)
        except Exception as error:  # this job's read failed: its runs' waits get it, no other
            answers = dict.fromkeys(keys, error)
        for key in keys:
            self._settle(batch, key, answers[key])

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


def _by_job(keys: list[Key]) -> tuple[list[tuple[str, list[Key]]], dict[Key, SaturnError]]:
    """Job-run keys grouped by job, in a stable order; and the keys that are no job run key, each with why (no
    request is made for them, and no other key is touched)."""
    groups: dict[str, list[Key]] = defaultdict(list)
    refused: dict[Key, SaturnError] = {}
    for key in keys:
        try:
            job_id, _ = split_job_run_key(key[1])
        except SaturnError as error:
            refused[key] = error
            continue
        groups[job_id].append(key)
    return sorted(groups.items()), refused


async def answer_by(poller: SharedPoller, kind: str, resource_id: str, deadline: float) -> dict[str, Any]:
    """The resource as the shared poll reads it next, never waited for past ``deadline`` (UNIX time).

    At the deadline (at once when the next tick comes after it) the shared poll is given up for a read of its
    own, the wait's last, cut after :data:`DEADLINE_READ_SECONDS`. Raises what the read raised; a cut read
    raises :class:`SaturnTransientError`.
    """
    remaining = deadline - time.time()
    if remaining > 0:
        until_tick = poller.seconds_to_next_tick()
        if until_tick is not None and until_tick > remaining:
            await asyncio.sleep(remaining)
        else:
            answer = await poller.next_answer(kind, resource_id, by=asyncio.get_running_loop().time() + remaining)
            if answer is not None:
                return answer
    cut = asyncio.timeout(DEADLINE_READ_SECONDS)
    try:
        async with cut:
            return await poller.client.get_resource(kind, resource_id)
    except TimeoutError:
        if not cut.expired():  # the read's own timeout, not ours
            raise
    raise SaturnTransientError(f"Saturn gave no answer within {DEADLINE_READ_SECONDS:g}s at the deadline")


def _give_up(future: asyncio.Future[dict[str, Any] | None]) -> None:
    """A wait's deadline came before its answer: it stops waiting (its resource's read, if any, goes on)."""
    if not future.done():
        future.set_result(None)


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
