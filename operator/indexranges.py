"""Sets of task indexes as sorted, disjoint ranges, written the way an Indexed Job writes
its `status.completedIndexes`: "0-99,102,104-110".

A large job finishes its tasks roughly in index order (the splitter creates the lowest
missing indexes first), so a million recorded indexes are a handful of ranges.
"""

from bisect import bisect_right
from collections.abc import Iterable


class IndexRanges:
    """An immutable set of non-negative integers kept as half-open spans [start, end)."""

    __slots__ = ("_ends", "_starts", "count")

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(s for s in spans if s[1] > s[0]):
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self._starts, self._ends = starts, ends
        self.count = sum(e - s for s, e in zip(starts, ends, strict=True))

    @classmethod
    def parse(cls, text: str) -> "IndexRanges":
        """From "0-99,102"; raises ValueError on anything else (the CRD's pattern refuses
        such text at admission)."""
        spans = [_span(part) for part in filter(None, text.split(","))]
        return cls(spans)

    def __str__(self) -> str:
        return ",".join(
            str(s) if e == s + 1 else f"{s}-{e - 1}"
            for s, e in zip(self._starts, self._ends, strict=True)
        )

    def __repr__(self) -> str:
        return f"IndexRanges({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexRanges):
            return NotImplemented
        return (self._starts, self._ends) == (other._starts, other._ends)

    def __hash__(self) -> int:
        return hash((tuple(self._starts), tuple(self._ends)))

    def __len__(self) -> int:
        return self.count

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.span_end(index) > index

    def span_end(self, index: int) -> int:
        """The end of the span holding `index` (the first index after it not held), or
        `index` itself when no span holds it."""
        at = bisect_right(self._starts, index) - 1
        if at >= 0 and index < self._ends[at]:
            return self._ends[at]
        return index

    def union(self, indexes: Iterable[int]) -> "IndexRanges":
        added = [(i, i + 1) for i in indexes]
        if not added:
            return self
        return IndexRanges([*zip(self._starts, self._ends, strict=True), *added])

    def covers(self, other: "IndexRanges") -> bool:
        """Whether every index of `other` is in this set."""
        return all(self.span_end(s) >= e for s, e in zip(other._starts, other._ends, strict=True))

    def first(self, n: int) -> list[int]:
        """The `n` smallest indexes."""
        found: list[int] = []
        for s, e in zip(self._starts, self._ends, strict=True):
            found.extend(range(s, min(e, s + n - len(found))))
            if len(found) >= n:
                break
        return found


def _span(part: str) -> tuple[int, int]:
    first, dash, last = part.partition("-")
    last = last if dash else first
    if not (_number(first) and _number(last)) or int(last) < int(first):
        raise ValueError(f"not an index range: {part!r}")
    return int(first), int(last) + 1


def _number(text: str) -> bool:
    return text.isascii() and text.isdecimal()


EMPTY = IndexRanges()
