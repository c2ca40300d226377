"""The reconciler's plan for one job: table-driven over rows and an injected clock."""

import math
from dataclasses import replace
from typing import Any

import pytest
from taskmill.operator.planning import (
    CANCEL_IGNORED,
    DEADLINE_EXCEEDED,
    JOB_CANCELLED,
    LEASE_EXPIRED,
    PROVIDER_LOST,
    TIMEOUT,
    Plan,
    Situation,
    plan,
)
from taskmill.operator.store import JobTasks, TaskRow

from taskmill.api import TaskPhase
from taskmill.api.protocol import (
    HELD_BACKOFF,
    HELD_CANCEL_ACK,
    HELD_PARALLELISM,
    HELD_SUSPENDED,
)
from tests.unit.operator.builders import at, make_job
from tests.unit.operator.rows import job_tasks, row

P, L, R, H = TaskPhase.PENDING, TaskPhase.LEASED, TaskPhase.RUNNING, TaskPhase.HELD


def situation(
    total: int = 3,
    seen: dict[str, float] | None = None,
    since: dict[str, float] | None = None,
    **kw: Any,
) -> Situation:
    spec = kw.pop("spec", {})
    values: dict[str, Any] = {
        "job": make_job(items=list(range(total)), **spec),
        "total": total,
        "eligible": True,
        "stop_reason": "",
        "max_live": 100,
        "now": at(100),
        "now_mono": 1000.0,
        "lease_seen": (seen or {}).get,
        "grace_seconds": 1.0,
        "state_seen": (since or {}).get,
        "cancel_grace_seconds": 30.0,
    }
    values.update(kw)
    return Situation(**values)


def phases(p: Plan) -> list[tuple[int, str, str]]:
    return [(r.index, str(ph), why) for r, ph, why in p.set_phase]


def test_creates_the_lowest_missing_tasks_within_max_live() -> None:
    p = plan(situation(total=10, max_live=4), job_tasks(row(0), row(2, TaskPhase.SUCCEEDED)))
    # one live task (0); the finished one (2) makes room
    assert p.create == [1, 3, 4]


def test_creates_nothing_when_not_eligible_or_suspended() -> None:
    assert plan(situation(eligible=False), JobTasks()).create == []
    assert plan(situation(spec={"suspend": True}), JobTasks()).create == []


def test_parallelism_bounds_pending_plus_leased() -> None:
    tasks = job_tasks(row(0, R), row(1))
    assert plan(situation(total=6, spec={"parallelism": 3}), tasks).create == [2]
    assert plan(situation(total=6, spec={"parallelism": 2}), tasks).create == []


def test_lowered_parallelism_holds_the_highest_pending_tasks() -> None:
    tasks = job_tasks(row(0, R), row(1), row(2), row(3))
    p = plan(situation(total=4, spec={"parallelism": 2}), tasks)
    assert phases(p) == [(2, "Held", HELD_PARALLELISM), (3, "Held", HELD_PARALLELISM)]
    assert p.create == []


def test_room_under_parallelism_releases_held_before_creating() -> None:
    tasks = job_tasks(row(0, H, reason=HELD_PARALLELISM), row(1, H, reason=HELD_PARALLELISM))
    p = plan(situation(total=4, spec={"parallelism": 3}), tasks)
    assert phases(p) == [(0, "Pending", ""), (1, "Pending", "")]
    assert p.create == [2]


def test_suspend_holds_pending_and_due_backoffs_but_not_leased() -> None:
    tasks = job_tasks(
        row(0, R),
        row(1),
        row(2, H, reason=HELD_BACKOFF, retry_after=at(50)),
        row(3, H, reason=HELD_SUSPENDED),
    )
    p = plan(situation(total=4, spec={"suspend": True}), tasks)
    assert phases(p) == [(1, "Held", HELD_SUSPENDED), (2, "Held", HELD_SUSPENDED)]
    assert p.cancel == []
    assert p.create == []


def test_resume_releases_suspended_tasks() -> None:
    tasks = job_tasks(row(0, H, reason=HELD_SUSPENDED), row(1, H, reason=HELD_SUSPENDED))
    assert phases(plan(situation(total=2), tasks)) == [(0, "Pending", ""), (1, "Pending", "")]


def test_backoff_released_when_due_else_woken_for() -> None:
    due = row(0, H, reason=HELD_BACKOFF, retry_after=at(99), attempts=1)
    later = row(1, H, reason=HELD_BACKOFF, retry_after=at(107), attempts=1)
    p = plan(situation(total=2), job_tasks(due, later))
    assert phases(p) == [(0, "Pending", "")]
    assert p.wake_in == 7


def test_lease_expires_on_the_observer_clock_not_the_holders_timestamps() -> None:
    # renew_time far in the past by the holder's clock: irrelevant, only sightings count.
    held = row(0, R, renew_time=at(-3600), lease_seconds=5)
    fresh = plan(situation(total=1, seen={"job-0": 995.0}), job_tasks(held))
    assert fresh.expire == []
    assert fresh.wake_in == 1.0  # 995 + 5 + 1 grace - 1000
    stale = plan(situation(total=1, seen={"job-0": 994.0}), job_tasks(held))
    assert stale.expire == [(held, LEASE_EXPIRED)]


def test_every_lease_of_a_lost_provider_ends_at_once() -> None:
    """Its presence lapsed: no waiting for each task lease's own duration."""
    mine = row(0, R, holder="gone", lease_seconds=300)
    other = row(1, R, holder="alive", lease_seconds=300)
    seen = {"job-0": 999.0, "job-1": 999.0}
    p = plan(
        situation(total=2, seen=seen, holder_lost=lambda h: h == "gone"),
        job_tasks(mine, other),
    )
    assert p.expire == [(mine, PROVIDER_LOST)]


def test_timeout_asks_the_holder_to_cancel_once() -> None:
    """Measured from when the operator saw the attempt running (observer clock 1000 now);
    the holder's startTime, written by its own clock, plays no part."""
    running = row(0, R, timeout_seconds=30, start_time=at(-9999))
    p = plan(situation(total=1, since={"job-0": 970.0}), job_tasks(running))
    assert p.cancel == [(running, TIMEOUT)]
    cancelling = job_tasks(replace(running, cancel=True))
    assert plan(situation(total=1, since={"job-0": 990.0}), cancelling).cancel == []
    not_yet = plan(situation(total=1, since={"job-0": 990.0}), job_tasks(running))
    assert (not_yet.cancel, not_yet.wake_in) == ([], 20)


def test_a_cancel_not_acknowledged_within_the_cancel_grace_ends_the_lease() -> None:
    """The holder keeps renewing (its lease is fresh) but never stops the work."""
    for reason in (TIMEOUT, JOB_CANCELLED):
        held = row(0, R, cancel=True, cancel_reason=reason)
        seen = {"job-0": 999.0}  # renewed a moment ago
        waiting = plan(situation(total=1, seen=seen, since={"job-0": 980.0}), job_tasks(held))
        assert (waiting.expire, waiting.wake_in) == ([], 5.0)  # the lease is due first
        ignored = plan(situation(total=1, seen=seen, since={"job-0": 970.0}), job_tasks(held))
        assert ignored.expire == [(held, CANCEL_IGNORED)]


def test_acknowledged_timeout_counts_the_attempt() -> None:
    acked = row(0, H, reason=HELD_CANCEL_ACK, cancel=True, cancel_reason=TIMEOUT)
    assert plan(situation(total=1), job_tasks(acked)).count_attempt == [acked]


def test_stopping_cancels_running_and_the_rest_and_creates_nothing() -> None:
    tasks = job_tasks(
        row(0, R),
        row(1),
        row(2, H, reason=HELD_BACKOFF),
        row(3, H, reason=HELD_CANCEL_ACK, cancel=True, cancel_reason=JOB_CANCELLED),
        row(4, TaskPhase.SUCCEEDED),
    )
    for reason in (JOB_CANCELLED, DEADLINE_EXCEEDED):
        p = plan(situation(total=8, stop_reason=reason), tasks)
        assert [(r.index, why) for r, why in p.cancel] == [(0, reason)]
        assert phases(p) == [
            (1, "Cancelled", reason),
            (2, "Cancelled", reason),
            (3, "Cancelled", reason),
        ]
        assert p.create == []
        assert p.count_attempt == []


def test_nothing_due_means_no_wake() -> None:
    p = plan(situation(total=1), job_tasks(row(0, TaskPhase.SUCCEEDED)))
    assert p.empty
    assert p.wake_in == math.inf


def test_clock_injection_moves_timeout_decisions() -> None:
    running = row(0, R, timeout_seconds=10)
    early = situation(total=1, since={"job-0": 995.0})
    late = situation(total=1, since={"job-0": 990.0})
    assert plan(early, job_tasks(running)).cancel == []
    assert plan(late, job_tasks(running)).cancel == [(running, TIMEOUT)]


@pytest.mark.parametrize(
    ("rows", "stop_reason", "expected"),
    [
        # a Pending task nominated to a provider that is gone or draining
        ([row(0, nominee="gone"), row(1, nominee="live"), row(2)], "", [0]),
        # held: the nomination means nothing until it is Pending again
        ([row(0, L, holder="live", nominee="gone"), row(1, H, nominee="gone")], "", []),
        # a stopping job withdraws its Pending tasks instead
        ([row(0, nominee="gone")], JOB_CANCELLED, []),
    ],
)
def test_nominations_of_gone_providers_come_off_pending_tasks(
    rows: list[TaskRow], stop_reason: str, expected: list[int]
) -> None:
    s = situation(stop_reason=stop_reason, nominee_gone=lambda nominee: nominee == "gone")
    p = plan(s, job_tasks(*rows))
    assert [r.index for r in p.unnominate] == expected
    assert p.empty is (not expected and not p.set_phase and not p.create)


@pytest.mark.parametrize(
    ("rows", "floor", "expected"),
    [
        # a lower priority waits (in this job or another): nominated above it comes off
        ([row(0, nominee="a", priority=5), row(1, nominee="b", priority=0)], 0, [0]),
        ([row(0, nominee="a", priority=5)], 0, [0]),
        # at the floor, or nobody's already: stays
        ([row(0, nominee="a", priority=0), row(1, priority=5)], 0, []),
        # nothing waits lower
        ([row(0, nominee="a", priority=5)], 5, []),
        ([row(0, L, holder="a", nominee="a", priority=5)], 0, []),  # held: means nothing
    ],
)
def test_nominations_above_the_priority_floor_come_off_pending_tasks(
    rows: list[TaskRow], floor: float, expected: list[int]
) -> None:
    s = situation(pending_floor=lambda capability: floor if capability == "cap" else math.inf)
    assert [r.index for r in plan(s, job_tasks(*rows)).unnominate] == expected
