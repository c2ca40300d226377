"""set_condition: a list keyed by type whose transition times move only on change."""

from datetime import timedelta

import pytest
from taskmill.operator.conditions import MAX_MESSAGE, ConditionType, find_condition, set_condition

from taskmill.api import Condition, ConditionStatus

from .builders import T0

TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE
LATER = T0 + timedelta(seconds=90, microseconds=250_000)


def cond(type: str, status: ConditionStatus, reason: str = "Why", generation: int = 1) -> Condition:
    return Condition(
        type=type,
        status=status,
        reason=reason,
        observed_generation=generation,
        last_transition_time=T0,
    )


EXISTING = [cond("Accepted", TRUE), cond("Ready", FALSE), cond("Stalled", FALSE)]


@pytest.mark.parametrize(
    ("type", "status", "transition_time"),
    [
        ("Ready", FALSE, T0),  # same status: the transition time is kept
        ("Ready", TRUE, LATER.replace(microsecond=0)),  # changed: now, in whole seconds
        ("Ready", ConditionStatus.UNKNOWN, LATER.replace(microsecond=0)),
        ("Complete", TRUE, LATER.replace(microsecond=0)),  # new
    ],
)
def test_transition_time_moves_only_when_the_status_changes(
    type: str, status: ConditionStatus, transition_time: object
) -> None:
    result = set_condition(EXISTING, type, status, "NewReason", "msg", 7, LATER)

    got = find_condition(result, type)
    assert got is not None
    assert (got.status, got.reason, got.message) == (status, "NewReason", "msg")
    assert got.observed_generation == 7
    assert got.last_transition_time == transition_time


def test_other_conditions_keep_their_order_and_a_new_type_goes_last() -> None:
    replaced = set_condition(EXISTING, "Ready", TRUE, "Done", "", 2, LATER)
    added = set_condition(EXISTING, ConditionType.COMPLETE, TRUE, "Done", "", 2, LATER)

    assert [c.type for c in replaced] == ["Accepted", "Ready", "Stalled"]
    assert replaced[0] == EXISTING[0]
    assert replaced[2] == EXISTING[2]
    assert [c.type for c in added] == ["Accepted", "Ready", "Stalled", "Complete"]


def test_the_input_is_not_modified() -> None:
    before = list(EXISTING)
    set_condition(EXISTING, "Ready", TRUE, "Done", "", 2, LATER)
    assert before == EXISTING


def test_an_overlong_message_is_cut_to_the_metav1_limit() -> None:
    result = set_condition([], "Failed", TRUE, "TooBig", "x" * (MAX_MESSAGE + 10), 1, T0)
    assert len(result[0].message) == MAX_MESSAGE


def test_find_condition_returns_none_for_a_missing_type() -> None:
    assert find_condition(EXISTING, "Complete") is None
