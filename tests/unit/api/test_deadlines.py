"""Deadline policy, all times as offsets from the job's creation at T0."""

from datetime import datetime

import pytest

from taskmill.api import Deadlines
from taskmill.api.deadlines import (
    active_deadline_exceeded,
    late_to_start,
    next_deadline,
    running_late,
)
from tests.unit.operator.builders import T0, at

START_10 = Deadlines(start_within_seconds=10)
ALL = Deadlines(start_within_seconds=10, expected_duration_seconds=60, active_deadline_seconds=120)


@pytest.mark.parametrize(
    ("deadlines", "created", "first_start", "now", "late"),
    [
        (Deadlines(), T0, None, at(10_000), False),  # no deadline
        (START_10, T0, None, at(9.999), False),
        (START_10, T0, None, at(10), True),  # the deadline instant itself is late
        (START_10, T0, at(3), at(50), False),  # started in time
        (START_10, T0, at(30), at(50), False),  # started late: no longer "late to start"
        (START_10, None, None, at(50), False),  # creation unknown
    ],
)
def test_late_to_start(
    deadlines: Deadlines,
    created: datetime | None,
    first_start: datetime | None,
    now: datetime,
    late: bool,
) -> None:
    assert late_to_start(deadlines, created, first_start, now) == late


@pytest.mark.parametrize(
    ("deadlines", "created", "now", "late", "exceeded"),
    [
        (Deadlines(), T0, at(10_000), False, False),
        (ALL, T0, at(59), False, False),
        (ALL, T0, at(60), True, False),
        (ALL, T0, at(119), True, False),
        (ALL, T0, at(120), True, True),
        (ALL, None, at(500), False, False),
    ],
)
def test_running_late_and_active_deadline(
    deadlines: Deadlines, created: datetime | None, now: datetime, late: bool, exceeded: bool
) -> None:
    assert running_late(deadlines, created, now) == late
    assert active_deadline_exceeded(deadlines, created, now) == exceeded


@pytest.mark.parametrize(
    ("deadlines", "created", "first_start", "now", "expected"),
    [
        (Deadlines(), T0, None, at(0), None),
        (ALL, None, None, at(0), None),
        (ALL, T0, None, at(0), at(10)),
        (ALL, T0, at(2), at(3), at(60)),  # started: the start deadline no longer applies
        (ALL, T0, None, at(10), at(60)),  # an instant already reached is not ahead
        (ALL, T0, None, at(70), at(120)),
        (ALL, T0, None, at(120), None),  # every answer is final
        (Deadlines(active_deadline_seconds=5), T0, None, at(1), at(5)),
    ],
)
def test_next_deadline_is_the_next_instant_an_answer_changes(
    deadlines: Deadlines,
    created: datetime | None,
    first_start: datetime | None,
    now: datetime,
    expected: datetime | None,
) -> None:
    wake = next_deadline(deadlines, created, first_start, now)
    assert wake == expected
    if wake is not None:
        before = (
            late_to_start(deadlines, created, first_start, now),
            running_late(deadlines, created, now),
            active_deadline_exceeded(deadlines, created, now),
        )
        after = (
            late_to_start(deadlines, created, first_start, wake),
            running_late(deadlines, created, wake),
            active_deadline_exceeded(deadlines, created, wake),
        )
        assert before != after
