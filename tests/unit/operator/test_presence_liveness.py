"""Task leases kept alive by their holder's presence Lease, judged on the observer clock."""

from datetime import UTC, datetime
from typing import Any

import pytest
from taskmill.operator.planning import LEASE_EXPIRED, PROVIDER_LOST, Situation, plan
from taskmill.operator.presence import ProviderPresence
from taskmill.operator.store import TaskRow

from taskmill.api import BatchJob, TaskPhase
from tests.builders import make_batchjob
from tests.unit.operator.builders import presence_lease
from tests.unit.operator.rows import job_tasks, row

GRACE = 1.0


def held(instance: str = "i1", lease_seconds: int = 5) -> TaskRow:
    return row(0, TaskPhase.RUNNING, presence_instance=instance, lease_seconds=lease_seconds)


# (what the operator saw: (time, "put"|"delete", lease), the row, its own sighting,
# what lease_seen answers)
CASES: dict[
    str, tuple[list[tuple[float, str, dict[str, Any]]], TaskRow, float | None, float | None]
] = {
    "a lease the holder renews itself: its own sighting": (
        [(100.0, "put", presence_lease("p", "i1"))],
        held(instance=""),
        0.0,
        0.0,
    ),
    "a bound lease: the presence renewal": (
        [(100.0, "put", presence_lease("p", "i1"))],
        held(),
        0.0,
        100.0,
    ),
    "its own write, if later": (
        [(100.0, "put", presence_lease("p", "i1"))],
        held(),
        150.0,
        150.0,
    ),
    "another instance under the same name keeps nothing alive": (
        [(100.0, "put", presence_lease("p", "i2"))],
        held(),
        0.0,
        0.0,
    ),
    "another holder's presence keeps nothing alive": (
        [(100.0, "put", presence_lease("q", "i1"))],
        held(),
        0.0,
        0.0,
    ),
    "no presence Lease: its own sighting": ([], held(), 0.0, 0.0),
    "blind: nothing judged": ([(100.0, "put", presence_lease("p", "i1"))], held(), None, None),
    "a longer presence Lease: its renewal shifted by the difference": (
        [(100.0, "put", presence_lease("p", "i1", duration=10))],
        held(lease_seconds=5),
        0.0,
        105.0,
    ),
    "a deleted presence Lease counts until it would have lapsed": (
        [(100.0, "put", presence_lease("p", "i1")), (101.0, "delete", presence_lease("p", "i1"))],
        held(),
        0.0,
        100.0,
    ),
    "and is forgotten once it would have": (
        [
            (100.0, "put", presence_lease("p", "i1")),
            (101.0, "delete", presence_lease("p", "i1")),
            (106.0, "put", presence_lease("q", "i9")),
        ],
        held(),
        0.0,
        0.0,
    ),
    "re-created by the same instance: renewed again": (
        [
            (100.0, "put", presence_lease("p", "i1")),
            (101.0, "delete", presence_lease("p", "i1")),
            (101.5, "put", presence_lease("p", "i1", renew="t1")),
        ],
        held(),
        0.0,
        101.5,
    ),
}


@pytest.mark.parametrize(("seen", "task", "own", "expected"), CASES.values(), ids=CASES.keys())
def test_lease_seen(
    seen: list[tuple[float, str, dict[str, Any]]],
    task: TaskRow,
    own: float | None,
    expected: float | None,
) -> None:
    presence = ProviderPresence(grace_seconds=GRACE)
    for at, what, body in seen:
        if what == "put":
            presence.put(body, now=at)
        else:
            presence.delete(body)
    assert presence.lease_seen("ns", task, own) == expected


def situation(presence: ProviderPresence, task: TaskRow, now: float) -> Situation:
    return Situation(
        job=BatchJob.model_validate(make_batchjob("job", "cap").obj()),
        total=1,
        eligible=True,
        stop_reason="",
        max_live=10,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        now_mono=now,
        lease_seen=lambda name: presence.lease_seen("ns", task, 0.0),
        grace_seconds=GRACE,
        holder_lost=lambda holder: presence.lost("ns", holder, now),
    )


@pytest.mark.parametrize(
    ("instance", "now", "expired", "wake_in"),
    [
        # Claimed at 0 with a 5 s lease and never written again; the presence Lease
        # was renewed at 100: alive until 106, whatever the task's own renewTime says.
        ("i1", 105.9, [], 0.1),
        ("i1", 106.0, [PROVIDER_LOST], None),
        # Not bound to it: expired after its own 5 s plus grace.
        ("", 6.0, [LEASE_EXPIRED], None),
        ("", 105.9, [LEASE_EXPIRED], None),
    ],
)
def test_plan_keeps_a_bound_lease_while_its_presence_is_renewed(
    instance: str, now: float, expired: list[str], wake_in: float | None
) -> None:
    presence = ProviderPresence(grace_seconds=GRACE)
    presence.put(presence_lease("p", "i1"), now=100.0)
    task = held(instance)
    p = plan(situation(presence, task, now), job_tasks(task))
    assert [kind for _, kind in p.expire] == expired
    if wake_in is not None:
        assert p.wake_in == pytest.approx(wake_in)


def draining(lease: dict[str, Any]) -> dict[str, Any]:
    lease["metadata"]["annotations"]["taskmill.io/drain"] = "true"
    return lease


@pytest.mark.parametrize(
    ("seen", "now", "takes"),
    [
        ([(100.0, "put", presence_lease("p", "i1"))], 104.0, True),
        # lapsed: its duration (5 s) and the grace (1 s) went by without a renewal
        ([(100.0, "put", presence_lease("p", "i1"))], 106.0, False),
        # being scaled down: it claims nothing more
        ([(100.0, "put", draining(presence_lease("p", "i1")))], 101.0, False),
        # retracted on shutdown, or never seen
        ([(100.0, "put", presence_lease("p", "i1")), (101.0, "delete", presence_lease("p", "i1"))],
         101.0, False),
        ([(100.0, "put", presence_lease("q", "i1"))], 101.0, False),
    ],
)  # fmt: skip
def test_who_takes_its_nominees(
    seen: list[tuple[float, str, dict[str, Any]]], now: float, takes: bool
) -> None:
    presence = ProviderPresence(GRACE)
    for at, action, lease in seen:
        if action == "put":
            presence.put(lease, at)
        else:
            presence.delete(lease)
    assert presence.takes_nominees("ns", "p", now) is takes
    assert (("ns", "p") in presence.nominee_takers(now)) is takes
