"""Which nominated candidate to take first.

Providers that chose among the same top few candidates would race for the same tasks:
a claim lost is a wasted write, and a run-first run lost (spec.claim Optimistic: the
task stays Pending while it runs, nobody can see the run) is wasted compute too. So
the operator nominates a provider for each task when it creates it (label
taskmill.io/nominee: round-robin over the live providers of its capability, by
slots), and a provider chooses, within the top priority:

1. its own nominees, oldest first;
2. else an Optimistic one nominated to nobody (no provider was live), in an order of
   its own (a shuffle seeded by its identity: other providers take others first);
3. else one nominated to another provider that has waited long enough since this
   provider first saw it (steal_after): at random among the STEAL_AMONG that ripened
   last. For a claim that is CLAIM_GRACE_SECONDS: a claim shows at once, so a task
   still Pending then is queued behind its nominee's other work, or its nominee is
   gone. For a run-first run it is spec.timeoutSeconds plus NOMINATION_GRACE_SECONDS:
   a nominee running it would have finished by then (it stops runs at the timeout).

This is work stealing: the nominee works from the old end of its queue and a thief
from the new end, so the two meet (and race) only when the queue is nearly empty. A
nomination is a hint, never a lease: the claim's or the one write's fencing still
decides who holds a task or whose run counts, whoever tried.
"""

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from taskmill.provider.keyedqueue import KeyedQueue

NOMINATION_GRACE_SECONDS = 2.0
# Time enough for a nominee with a free slot to see its task and claim it, under load.
CLAIM_GRACE_SECONDS = 1.0
# A thief chooses among this many of the others' nominees that ripened last: far from
# the old end their nominees work from, and wide enough that thieves rarely meet.
STEAL_AMONG = 32

Where = tuple[str, int]  # capability, -priority


def steal_after(run_first: bool, timeout: float) -> float:
    """How long a task nominated to another provider waits before it may be taken here:
    run first (spec.claim Optimistic) with runs stopped after `timeout` seconds, or
    claimed."""
    return timeout + NOMINATION_GRACE_SECONDS if run_first else CLAIM_GRACE_SECONDS


class Nominees:
    """The nominated candidates (and the unnamed Optimistic ones), by whether and how
    this provider may take them now."""

    def __init__(self, identity: str, mono: Callable[[], float]) -> None:
        self._identity = identity
        self._mono = mono
        self._where: dict[str, Where] = {}
        self._count: Counter[Where] = Counter()
        self._mine: dict[Where, KeyedQueue] = {}  # by order key: oldest first
        self._unnamed: dict[Where, KeyedQueue] = {}  # by a random key: any
        self._ripe: dict[Where, KeyedQueue] = {}  # others', by -ripe time: newest first
        # Others', not yet ripe: name -> (ripe at, where), and a heap of (ripe at, name)
        # whose entries for names since removed are skipped.
        self._waiting: dict[str, tuple[float, Where]] = {}
        self._ripening: list[tuple[float, str]] = []
        self._shuffle = random.Random(identity)

    def clear(self) -> None:
        self._where, self._count = {}, Counter()
        self._mine, self._unnamed, self._ripe = {}, {}, {}
        self._waiting, self._ripening = {}, []

    def add(
        self, name: str, where: Where, order: Any, nominee: str, seen: float, wait: float
    ) -> None:
        """A candidate first seen at `seen` (monotonic), sorting as `order` in its queue,
        that may be taken here `wait` seconds after `seen` if another is its nominee."""
        self.remove(name)
        self._where[name] = where
        self._count[where] += 1
        ripe_at = seen + wait
        if not nominee:
            self._unnamed.setdefault(where, KeyedQueue()).add(name, self._shuffle.random())
        elif nominee == self._identity:
            self._mine.setdefault(where, KeyedQueue()).add(name, order)
        elif self._mono() >= ripe_at:
            self._ripe.setdefault(where, KeyedQueue()).add(name, -ripe_at)
        else:
            self._waiting[name] = (ripe_at, where)
            heapq.heappush(self._ripening, (ripe_at, name))

    def remove(self, name: str) -> None:
        where = self._where.pop(name, None)
        if where is None:
            return
        self._count[where] -= 1
        if not self._count[where]:
            del self._count[where]
        self._waiting.pop(name, None)
        for queues in (self._mine, self._unnamed, self._ripe):
            queue = queues.get(where)
            if queue is not None:
                queue.remove(name)
                if not queue:
                    del queues[where]

    def first_own(self, priority: int, full: frozenset[str]) -> Any | None:
        """The order key of the oldest own nominee of `priority`, in capabilities not
        `full`."""
        return min((key for key, _ in _firsts(self._mine, priority, full, 1)), default=None)

    def top(self, full: frozenset[str]) -> int | None:
        """The highest priority (as -priority) of any candidate here, taken or not, in
        capabilities not `full`."""
        return min((p for capability, p in self._count if capability not in full), default=None)

    def choose(self, rng: random.Random, priority: int, full: frozenset[str]) -> str | None:
        """The one to run of `priority`, in capabilities not `full`: the oldest own
        nominee, else an unnamed one, else one at random among the others' that ripened
        last; None while only others' unripe ones are left."""
        self._ripen()
        for queues, k in ((self._mine, 1), (self._unnamed, 1), (self._ripe, STEAL_AMONG)):
            found = sorted(_firsts(queues, priority, full, k))[:k]
            if found:
                return rng.choice(found)[1]
        return None

    def ripe_in(self) -> float | None:
        """Seconds until the next task nominated to another provider may run here."""
        self._ripen()
        while self._ripening and self._ripening[0][1] not in self._waiting:
            heapq.heappop(self._ripening)
        return self._ripening[0][0] - self._mono() if self._ripening else None

    def _ripen(self) -> None:
        now = self._mono()
        while self._ripening and self._ripening[0][0] <= now:
            ripe_at, name = heapq.heappop(self._ripening)
            entry = self._waiting.get(name)
            if entry is not None and entry[0] == ripe_at:
                del self._waiting[name]
                self._ripe.setdefault(entry[1], KeyedQueue()).add(name, -ripe_at)


def _firsts(
    queues: dict[Where, KeyedQueue], priority: int, full: frozenset[str], k: int
) -> Iterable[tuple[Any, str]]:
    for (capability, p), queue in queues.items():
        if p == priority and capability not in full:
            yield from queue.first(k)
