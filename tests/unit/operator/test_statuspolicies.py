"""StatusPolicy review: what the operator writes into a policy's status."""

from datetime import UTC, datetime, timedelta

import pytest
from taskmill.operator.statuspolicies import needs_review, review_status

from taskmill.api.common import Condition, ConditionStatus, ObjectMeta
from taskmill.api.statuspolicy import StatusPolicy, StatusPolicyStatus

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def policy(generation: int = 2, status: StatusPolicyStatus | None = None) -> StatusPolicy:
    return StatusPolicy(
        metadata=ObjectMeta(name="p", generation=generation),
        status=status or StatusPolicyStatus(),
    )


def conditions(status: StatusPolicyStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


@pytest.mark.parametrize(
    ("problems", "unserved", "expected"),
    [
        (
            [],
            [],
            {
                "Accepted": ("True", "Compiled", ""),
                "KindsServed": ("True", "Served", ""),
            },
        ),
        (
            ["Job.batch rule 0 (x): 1:3: Syntax error"],
            ["Workflow.argoproj.io"],
            {
                "Accepted": (
                    "False",
                    "RulesDoNotCompile",
                    "Job.batch rule 0 (x): 1:3: Syntax error; these rules are skipped",
                ),
                "KindsServed": (
                    "False",
                    "UnknownKind",
                    "not served by this cluster: Workflow.argoproj.io; their rules never apply",
                ),
            },
        ),
    ],
)
def test_review_status(
    problems: list[str], unserved: list[str], expected: dict[str, tuple[str, str, str]]
) -> None:
    status = review_status(policy(), problems, unserved, NOW)
    assert status.observed_generation == 2
    assert conditions(status) == expected
    assert all(c.observed_generation == 2 for c in status.conditions)


def test_a_review_that_changes_nothing_keeps_the_transition_time() -> None:
    first = review_status(policy(), [], [], NOW)
    again = review_status(policy(3, first), [], [], NOW + timedelta(hours=1))
    assert [c.last_transition_time for c in again.conditions] == [NOW, NOW]


def test_only_a_new_generation_needs_a_review() -> None:
    accepted = Condition(
        type="Accepted", status=ConditionStatus.TRUE, reason="Compiled", last_transition_time=NOW
    )
    assert needs_review(policy(2))
    assert needs_review(policy(2, StatusPolicyStatus(observed_generation=1, conditions=[accepted])))
    assert not needs_review(
        policy(2, StatusPolicyStatus(observed_generation=2, conditions=[accepted]))
    )
