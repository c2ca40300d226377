"""The local set of leasable Tasks a provider could claim, and which one to try next."""

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from taskmill.api.common import TaskPhase
from taskmill.api.task import OrderKey, Task, order_key


def is_leasable(task: Task, capabilities: frozenset[str]) -> bool:
    """Pending, free, of a served capability, not being cancelled or deleted."""
    return (
        task.status.phase == TaskPhase.PENDING
        and task.status.lease.holder == ""
        and task.spec.capability in capabilities
        and not task.spec.cancel
        and task.metadata.deletion_timestamp is None
    )


@dataclass
class Spread:
    """How many top candidates a claim chooses among.

    Starts narrow, so that ties go to the oldest tasks; doubles with every lost race,
    since losses mean other providers are choosing from the same few; narrows again
    one step per win. Either way it never reaches below the top priority.
    """

    narrowest: int
    widest: int = 64
    k: int = 0

    def __post_init__(self) -> None:
        self.k = self.k or self.narrowest

    def won(self) -> None:
        self.k = max(self.narrowest, self.k - 1)

    def lost(self) -> None:
        self.k = min(self.widest, self.k * 2)


class CandidateSet:
    """Leasable Tasks by name, kept current from a list and then watch events.

    Every create and every claim in the provider's capabilities is an event here, and
    every free slot asks for the best candidates; so each task is keyed once on arrival
    and kept in its capability's heap, whose stale entries (claimed, deleted, re-keyed)
    are dropped as they surface. A choice then costs O(k log n) per capability, not a
    sort of every candidate, also when some capabilities are at their own limit.
    """

    def __init__(self, capabilities: Iterable[str]) -> None:
        self._capabilities = frozenset(capabilities)
        self._tasks: dict[str, Task] = {}
        self._keys: dict[str, OrderKey] = {}
        self._heaps: dict[str, list[tuple[OrderKey, str]]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        """A fresh list: forget everything not in it."""
        self._tasks, self._keys, self._heaps = {}, {}, {}
        for obj in objects:
            self.apply("ADDED", obj)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        """One watch event. DELETED also arrives when a task stops matching the selectors."""
        name = obj.get("metadata", {}).get("name", "")
        if event_type == "BOOKMARK" or not name:
            return
        if event_type == "DELETED":
            self.discard(name)
            return
        task = Task.model_validate(obj)
        if is_leasable(task, self._capabilities):
            self._put(task)
        else:
            self.discard(name)

    def restore(self, task: Task) -> None:
        """Put back a task whose claim failed for a reason that says nothing about it."""
        if is_leasable(task, self._capabilities) and task.metadata.name not in self._tasks:
            self._put(task)

    def discard(self, name: str) -> None:
        self._tasks.pop(name, None)
        self._keys.pop(name, None)

    def choose(
        self, rng: random.Random, top_k: int, full: frozenset[str] = frozenset()
    ) -> Task | None:
        """A random one among the first top_k candidates of the highest priority present,
        leaving out the capabilities in `full` (at their own concurrency limit).

        The spread keeps providers that see the same set from all racing for one task;
        it never reaches below the top priority, so a lower-priority task is only tried
        when no higher one is left.
        """
        tops = [
            self._top(heap, top_k)
            for capability, heap in self._heaps.items()
            if capability not in full
        ]
        best = sorted(entry for top in tops for entry in top)[:top_k]
        if not best:
            return None
        top_priority = best[0][0][0]
        return self._tasks[rng.choice([name for key, name in best if key[0] == top_priority])]

    def _top(self, heap: list[tuple[OrderKey, str]], k: int) -> list[tuple[OrderKey, str]]:
        """The first k current entries of `heap` (left in it); stale ones are dropped."""
        found: list[tuple[OrderKey, str]] = []
        while heap and len(found) < k:
            key, name = heapq.heappop(heap)
            if self._keys.get(name) == key and (key, name) not in found:
                found.append((key, name))
        for entry in found:
            heapq.heappush(heap, entry)
        return found

    def heap_size(self) -> int:
        """Entries in the heaps, stale ones included (bounded: see _put)."""
        return sum(len(heap) for heap in self._heaps.values())

    def _put(self, task: Task) -> None:
        name, key = task.metadata.name, order_key(task)
        self._tasks[name] = task
        if self._keys.get(name) != key:
            self._keys[name] = key
            heap = self._heaps.setdefault(task.spec.capability, [])
            heapq.heappush(heap, (key, name))
        if self.heap_size() > 2 * len(self._keys) + 64:  # stale entries of deep tasks
            self._rebuild()

    def _rebuild(self) -> None:
        self._heaps = {}
        for name, key in self._keys.items():
            self._heaps.setdefault(self._tasks[name].spec.capability, []).append((key, name))
        for heap in self._heaps.values():
            heapq.heapify(heap)
