"""Index ranges as status.succeededIndexes writes them: parse, compact, union, look up."""

import pytest
from taskmill.operator.indexranges import EMPTY, IndexRanges


@pytest.mark.parametrize(
    ("indexes", "text"),
    [
        ([], ""),
        ([0], "0"),
        ([0, 1], "0-1"),
        ([0, 1, 2, 3, 99], "0-3,99"),
        ([5, 3, 4, 4, 10, 12, 11], "3-5,10-12"),
        ([0, 2, 4], "0,2,4"),
        ([7, 8, 9, 1_000_000], "7-9,1000000"),
    ],
)
def test_indexes_compact_to_ranges(indexes: list[int], text: str) -> None:
    ranges = EMPTY.union(indexes)
    assert str(ranges) == text
    assert IndexRanges.parse(text) == ranges
    assert len(ranges) == len(set(indexes))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0-3,2-6", "0-6"),  # overlapping
        ("4-5,0-1", "0-1,4-5"),  # unsorted
        ("0-1,2-3", "0-3"),  # adjacent
        ("3-3", "3"),
        (",1,,", "1"),
    ],
)
def test_parsing_normalizes(text: str, canonical: str) -> None:
    assert str(IndexRanges.parse(text)) == canonical


@pytest.mark.parametrize("text", ["a", "1-", "-1", "5-3", "1-2-3", "1.5"])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an index range"):
        IndexRanges.parse(text)


@pytest.mark.parametrize(
    ("text", "index", "inside", "span_end"),
    [
        ("0-9,20-29", 0, True, 10),
        ("0-9,20-29", 9, True, 10),
        ("0-9,20-29", 10, False, 10),
        ("0-9,20-29", 25, True, 30),
        ("0-9,20-29", 30, False, 30),
        ("5", 4, False, 4),
        ("", 0, False, 0),
    ],
)
def test_membership_and_span_end(text: str, index: int, inside: bool, span_end: int) -> None:
    ranges = IndexRanges.parse(text)
    assert (index in ranges, ranges.span_end(index)) == (inside, span_end)


@pytest.mark.parametrize(
    ("big", "small", "covers"),
    [
        ("0-9", "", True),
        ("0-9", "0-9", True),
        ("0-9", "2-4,7", True),
        ("0-9", "5-10", False),
        ("0-4,6-9", "3-7", False),
        ("", "0", False),
    ],
)
def test_covers(big: str, small: str, covers: bool) -> None:
    assert IndexRanges.parse(big).covers(IndexRanges.parse(small)) is covers


def test_first_indexes_in_order() -> None:
    ranges = IndexRanges.parse("3-4,10-100")
    assert ranges.first(4) == [3, 4, 10, 11]
    assert ranges.first(0) == []
    assert IndexRanges.parse("1").first(5) == [1]


def test_a_large_job_finishing_in_order_is_one_range() -> None:
    ranges = EMPTY
    for start in range(0, 100_000, 500):
        ranges = ranges.union(range(start, start + 500))
    assert (str(ranges), len(ranges)) == ("0-99999", 100_000)
