"""Which resources may be active, by kind, in creation order: what ``GET /api/active/resources`` walks.

Every resource gets a sequence number when it is made (``next_seq``): the listing's order and its page keys.
A resource enters its kind's index when it starts; it leaves lazily, when a listing finds it no longer
active (stopped, failed, its job runs ended, deleted). So the index holds every active resource and a few
that were, and a listing costs the entries it walks, not the number of resources.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable, Iterator

KINDS = ("workspace", "dask", "deployment", "job")
"""The spec's ``ResourceType`` values, which name the kinds here."""

_SEQUENCE = itertools.count(1)


def next_seq() -> int:
    """A number larger than every one handed out before: a resource's place in listings."""
    return next(_SEQUENCE)


class ActiveIndex:
    """Per kind, the sequence numbers (sorted) and ids of the resources that may be active."""

    def __init__(self) -> None:
        self._seqs: dict[str, list[int]] = {kind: [] for kind in KINDS}
        self._ids: dict[str, dict[int, str]] = {kind: {} for kind in KINDS}

    def add(self, kind: str, seq: int, resource_id: str) -> None:
        """Note that the resource may be active (again); nothing changes if it is already noted."""
        ids = self._ids[kind]
        if seq in ids:
            return
        ids[seq] = resource_id
        seqs = self._seqs[kind]
        if not seqs or seqs[-1] < seq:
            seqs.append(seq)
        else:
            bisect.insort(seqs, seq)

    def discard(self, kind: str, seq: int) -> None:
        """Forget the resource (a listing found it inactive)."""
        if self._ids[kind].pop(seq, None) is None:
            return
        seqs = self._seqs[kind]
        del seqs[bisect.bisect_left(seqs, seq)]

    def walk(
        self, kinds: Iterable[str], after: int | None = None, before: int | None = None
    ) -> Iterator[tuple[int, str, str]]:
        """``(seq, kind, id)`` of ``kinds``, in order: ascending after ``after``, or descending before ``before``.

        Do not add or discard while walking: note what to discard, and discard once done.
        """
        if before is not None:
            streams = [self._walk_down(kind, before) for kind in kinds]
            return heapq.merge(*streams, reverse=True)
        return heapq.merge(*(self._walk_up(kind, after or 0) for kind in kinds))

    def _walk_up(self, kind: str, after: int) -> Iterator[tuple[int, str, str]]:
        seqs, ids = self._seqs[kind], self._ids[kind]
        for position in range(bisect.bisect_right(seqs, after), len(seqs)):
            seq = seqs[position]
            yield seq, kind, ids[seq]

    def _walk_down(self, kind: str, before: int) -> Iterator[tuple[int, str, str]]:
        seqs, ids = self._seqs[kind], self._ids[kind]
        for position in range(bisect.bisect_left(seqs, before) - 1, -1, -1):
            seq = seqs[position]
            yield seq, kind, ids[seq]

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())

    def clear(self) -> None:
        for kind in KINDS:
            self._seqs[kind].clear()
            self._ids[kind].clear()
