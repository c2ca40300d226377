"""The priority floor of each capability's Pending Tasks: table-driven over moves."""

import math

import pytest
from taskmill.operator.floors import PendingFloors

A, B = ("ns", "a"), ("ns", "b")


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ([], {A: math.inf}),
        ([(A, None, 5)], {A: 5, B: math.inf}),
        ([(A, None, 5), (A, None, 0)], {A: 0}),
        # the last task at the floor leaves Pending: the next priority up is the floor
        ([(A, None, 5), (A, None, 0), (A, 0, None)], {A: 5}),
        # two at the floor: one leaving keeps it
        ([(A, None, 0), (A, None, 0), (A, 0, None)], {A: 0}),
        ([(A, None, 0), (A, 0, None)], {A: math.inf}),
        # a priority edited in place moves between counts
        ([(A, None, 0), (A, None, 3), (A, 0, 7)], {A: 3}),
        # capabilities, and namespaces, keep their own floors
        ([(A, None, 0), (B, None, 9), (("other", "a"), None, -1)], {A: 0, B: 9}),
        ([(A, 2, 2)], {A: math.inf}),  # no move
    ],
)
def test_the_floor_is_the_least_priority_pending(
    moves: list[tuple[tuple[str, str], int | None, int | None]],
    expected: dict[tuple[str, str], float],
) -> None:
    floors = PendingFloors()
    for key, old, new in moves:
        floors.move(key, old, new)
    assert {key: floors.floor(*key) for key in expected} == expected


def test_a_move_returns_the_floor_before_it() -> None:
    floors = PendingFloors()
    assert floors.move(A, None, 4) == math.inf
    assert floors.move(A, None, 1) == 4
    assert floors.move(A, 1, None) == 1
