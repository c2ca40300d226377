"""The lowest priority among the Pending Tasks of each capability of a namespace.

Nominations keep priority across providers only at the floor. A provider that watches
its own nominees and nobody's (--pending-watch nominated) never sees a task nominated
to another provider while it has work of its own. If that task outranked its own, it
would run later than a lower-priority task: priority inverted. So only tasks at the
floor are nominated; any task above it is nobody's, and every provider sees it
(taskmill.operator.nomination, Plan.unnominate). Tasks at the floor all have the same
priority, so which provider takes which of them first does not matter.

Counted per priority, so that a Task's move in or out of Pending costs a dict update
and the floor is the least key of a handful.
"""

import math
from collections import Counter

FloorKey = tuple[str, str]  # (namespace, capability)


class PendingFloors:
    def __init__(self) -> None:
        self._counts: dict[FloorKey, Counter[int]] = {}

    def floor(self, namespace: str, capability: str) -> float:
        """The least priority of the capability's Pending Tasks; inf when none waits."""
        counts = self._counts.get((namespace, capability))
        return min(counts) if counts else math.inf

    def move(self, key: FloorKey, old: int | None, new: int | None) -> float:
        """A Task of `key` left priority `old` and entered `new` of the Pending Tasks
        (None: it was not, or is no longer, Pending). Returns the floor before."""
        before = self.floor(*key)
        if old == new:
            return before
        counts = self._counts.setdefault(key, Counter())
        if old is not None:
            counts[old] -= 1
            if counts[old] <= 0:
                del counts[old]
        if new is not None:
            counts[new] += 1
        if not counts:
            del self._counts[key]
        return before
