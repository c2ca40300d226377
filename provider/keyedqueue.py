"""A queue of names by sort key: O(log n) add, O(1) remove, the first k in O(k log n).

Candidates come and go with every watch event (claimed, deleted, re-keyed) and a
choice wants only the first few, so entries are never searched for: a removed or
re-keyed name's old entry stays in the heap and is skipped when it surfaces, and the
heap is rebuilt once such stale entries outnumber the live ones.
"""

import heapq
from typing import Any


class KeyedQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[Any, str]] = []
        self._keys: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, name: str, key: Any) -> None:
        """Put `name` at `key` (moving it, if it was elsewhere)."""
        if name in self._keys and self._keys[name] == key:
            return
        self._keys[name] = key
        heapq.heappush(self._heap, (key, name))
        if len(self._heap) > 2 * len(self._keys) + 64:
            self._heap = [(k, n) for n, k in self._keys.items()]
            heapq.heapify(self._heap)

    def remove(self, name: str) -> None:
        self._keys.pop(name, None)

    def first(self, k: int) -> list[tuple[Any, str]]:
        """The first k (key, name) entries, left in place; stale ones are dropped."""
        found: list[tuple[Any, str]] = []
        while self._heap and len(found) < k:
            key, name = heapq.heappop(self._heap)
            if name in self._keys and self._keys[name] == key and (key, name) not in found:
                found.append((key, name))
        for entry in found:
            heapq.heappush(self._heap, entry)
        return found

    def entries(self) -> int:
        """Entries in the heap, stale ones included (bounded: see add)."""
        return len(self._heap)
