"""Which Optimistic candidate (spec.claim Optimistic) to run first.

Such a task stays Pending while it runs: nobody can see the run. Providers that chose
among the same top few would run the same tasks again and again, and all runs of a
task but one would be lost. So the operator nominates a provider for each one when it
creates it (annotation taskmill.io/nominated-provider: round-robin over the live
providers of its capability, by slots), and a provider chooses, within the top
priority and at random:

1. the tasks nominated to it;
2. else those nominated to nobody, or to another provider but waiting for longer than
   NOMINATION_GRACE_SECONDS since this provider first saw them (their nominee may be
   busy, slow or gone).

A nomination is a hint, never a lease: the one write's fencing still decides whose run
counts (taskmill.provider.runfirst), whoever ran it.
"""

import heapq
import random
from collections.abc import Callable

NOMINATION_GRACE_SECONDS = 2.0

Where = tuple[str, int]  # capability, -priority


class _Bag:
    """Names with O(1) add, remove and uniform choice."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._at: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, i: int) -> str:
        return self._names[i]

    def add(self, name: str) -> None:
        if name not in self._at:
            self._at[name] = len(self._names)
            self._names.append(name)

    def remove(self, name: str) -> None:
        i = self._at.pop(name, None)
        if i is None:
            return
        last = self._names.pop()
        if last != name:
            self._names[i] = last
            self._at[last] = i


class Nominees:
    """The Optimistic candidates, by whether this provider may run them now."""

    def __init__(
        self,
        identity: str,
        mono: Callable[[], float],
        grace_seconds: float = NOMINATION_GRACE_SECONDS,
    ) -> None:
        self._identity = identity
        self._mono = mono
        self._grace = grace_seconds
        self._mine: dict[Where, _Bag] = {}
        self._open: dict[Where, _Bag] = {}
        # Nominated to others, not yet ripe: name -> (ripe at, where), and a heap of
        # (ripe at, name) whose entries for names since removed are skipped.
        self._waiting: dict[str, tuple[float, Where]] = {}
        self._ripening: list[tuple[float, str]] = []

    def clear(self) -> None:
        self._mine, self._open, self._waiting, self._ripening = {}, {}, {}, []

    def add(self, name: str, where: Where, nominee: str, seen: float) -> None:
        """A candidate first seen at `seen` (monotonic)."""
        if nominee == self._identity:
            self._mine.setdefault(where, _Bag()).add(name)
        elif not nominee or self._mono() >= seen + self._grace:
            self._open.setdefault(where, _Bag()).add(name)
        else:
            self._waiting[name] = (seen + self._grace, where)
            heapq.heappush(self._ripening, (seen + self._grace, name))

    def remove(self, name: str, where: Where) -> None:
        self._waiting.pop(name, None)
        for bags in (self._mine, self._open):
            bag = bags.get(where)
            if bag is not None:
                bag.remove(name)
                if not bag:
                    del bags[where]

    def choose(self, rng: random.Random, priority: int, full: frozenset[str]) -> str | None:
        """One at random among this provider's nominees of `priority` in capabilities
        not full, else among the open ones; None while only others' are left."""
        self._ripen()
        for bags in (self._mine, self._open):
            found = [b for (cap, p), b in bags.items() if p == priority and cap not in full]
            if found:
                return _uniform(rng, found)
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
                self._open.setdefault(entry[1], _Bag()).add(name)


def _uniform(rng: random.Random, bags: list[_Bag]) -> str:
    """Uniform over the names of non-empty bags."""
    i = rng.randrange(sum(len(bag) for bag in bags))
    for bag in bags[:-1]:
        if i < len(bag):
            return bag[i]
        i -= len(bag)
    return bags[-1][i]
