"""The built-in BatchJob rules: every value reachable, and the documented precedence holds."""

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from taskmill.api import JobPhase, NormalizedStatus
from taskmill.status import batchjob_status
from taskmill.status.adapters import batchjob as batchjob_module
from taskmill.status.adapters.batchjob import BatchJobFacts

# The documented order (DESIGN §2), highest first, written out independently of the code.
ORDER = [
    NormalizedStatus.CANCEL,
    NormalizedStatus.FAILURE,
    NormalizedStatus.SUCCESS,
    NormalizedStatus.ON_HOLD,
    NormalizedStatus.LATE_TO_START,
    NormalizedStatus.RUNNING_LATE,
    NormalizedStatus.RESTART,
    NormalizedStatus.RUNNING,
    NormalizedStatus.WAITING,
    NormalizedStatus.INACTIVE,
    NormalizedStatus.UNKNOWN,
]

# One way to fire each trigger; each touches its own input, so any two combine.
TRIGGER: dict[NormalizedStatus, dict[str, Any]] = {
    NormalizedStatus.CANCEL: {"cancel_requested": True},
    NormalizedStatus.FAILURE: {"accepted": False},
    NormalizedStatus.SUCCESS: {"phase": JobPhase.SUCCEEDED},
    NormalizedStatus.ON_HOLD: {"suspended": True},
    NormalizedStatus.LATE_TO_START: {"late_to_start": True},
    NormalizedStatus.RUNNING_LATE: {"running_late": True},
    NormalizedStatus.RESTART: {"retrying": 2},
    NormalizedStatus.RUNNING: {"leased": 3},
    NormalizedStatus.WAITING: {"leasable": 4},
    NormalizedStatus.INACTIVE: {"dependencies_met": False},
}


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def normalize(facts: BatchJobFacts) -> NormalizedStatus:
    return batchjob_status(facts, NOW)


def inputs(**kw: Any) -> BatchJobFacts:
    return BatchJobFacts(**{"phase": JobPhase.RUNNING, **kw})


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"cancel_requested": True}, NormalizedStatus.CANCEL),
        ({"phase": JobPhase.CANCELLED}, NormalizedStatus.CANCEL),
        ({"phase": JobPhase.FAILED}, NormalizedStatus.FAILURE),
        ({"accepted": False, "phase": JobPhase.PENDING}, NormalizedStatus.FAILURE),
        ({"active_deadline_exceeded": True, "leased": 2}, NormalizedStatus.FAILURE),
        ({"phase": JobPhase.SUCCEEDED}, NormalizedStatus.SUCCESS),
        ({"suspended": True, "leased": 1}, NormalizedStatus.ON_HOLD),
        ({"late_to_start": True, "leasable": 5}, NormalizedStatus.LATE_TO_START),
        ({"running_late": True, "leased": 5}, NormalizedStatus.RUNNING_LATE),
        ({"retrying": 1, "leased": 3}, NormalizedStatus.RESTART),
        ({"leased": 1, "leasable": 9}, NormalizedStatus.RUNNING),
        ({"leasable": 1, "phase": JobPhase.PENDING}, NormalizedStatus.WAITING),
        ({"dependencies_met": False, "phase": JobPhase.PENDING}, NormalizedStatus.INACTIVE),
        ({"observed": False, "phase": JobPhase.PENDING}, NormalizedStatus.WAITING),
        ({"observed": False, "suspended": True}, NormalizedStatus.ON_HOLD),
        ({}, NormalizedStatus.UNKNOWN),
        ({"phase": JobPhase.PENDING}, NormalizedStatus.UNKNOWN),
    ],
)
def test_each_raw_state_maps_to_its_value(kw: dict[str, Any], expected: NormalizedStatus) -> None:
    assert normalize(inputs(**kw)) == expected


def test_the_table_reaches_every_value_of_the_vocabulary() -> None:
    reached = {normalize(inputs(**kw)) for kw in TRIGGER.values()} | {normalize(inputs())}
    assert reached == set(NormalizedStatus)
    assert set(ORDER) == set(NormalizedStatus)


@pytest.mark.parametrize(
    ("higher", "lower"),
    # Unknown has no trigger: it is what remains when none holds.
    list(itertools.combinations(ORDER[:-1], 2)),
    ids=lambda v: str(v),
)
def test_higher_precedence_wins_when_both_triggers_hold(
    higher: NormalizedStatus, lower: NormalizedStatus
) -> None:
    assert normalize(inputs(**TRIGGER[lower])) == lower
    assert normalize(inputs(**TRIGGER[lower], **TRIGGER[higher])) == higher


def test_with_every_trigger_set_the_highest_wins_at_each_step() -> None:
    """Drop triggers from the top one by one: the next value in the order appears."""
    for position, expected in enumerate(ORDER):
        kw: dict[str, Any] = {}
        for value in ORDER[position:]:
            kw.update(TRIGGER.get(value, {}))
        assert normalize(inputs(**kw)) == expected


def test_the_documented_table_lists_the_values_in_precedence_order() -> None:
    doc = batchjob_module.__doc__ or ""
    rows = re.findall(r"^\|\s+(\d+) \| `(\w+)`", doc, flags=re.MULTILINE)
    assert [int(n) for n, _ in rows] == list(range(1, len(ORDER) + 1))
    assert [value for _, value in rows] == [v.value for v in ORDER]
