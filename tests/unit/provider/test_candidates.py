import random
from collections import Counter

import pytest
from taskmill.operator.api.task import Task
from taskmill.provider.candidates import CandidateSet, Spread, choose, is_leasable

from tests.unit.provider.tasks import task_obj


def tasks(*objs: dict) -> list[Task]:
    return [Task.model_validate(o) for o in objs]


@pytest.mark.parametrize(
    ("changes", "leasable"),
    [
        ({}, True),
        ({"phase": "Held"}, False),
        ({"phase": "Running", "holder": "p", "epoch": 1}, False),
        ({"holder": "p", "epoch": 1}, False),
        ({"capability": "other"}, False),
        ({"cancel": True}, False),
    ],
)
def test_leasable(changes: dict, leasable: bool) -> None:
    task = Task.model_validate(task_obj("t", **changes))
    assert is_leasable(task, frozenset({"cap"})) is leasable


def test_choose_takes_highest_priority_then_oldest_then_lowest_index() -> None:
    candidates = tasks(
        task_obj("low", priority=1),
        task_obj("new", priority=5, created="2026-01-01T00:00:09Z"),
        task_obj("old-2", priority=5, index=2),
        task_obj("old-1", priority=5, index=1),
    )
    assert choose(candidates, random.Random(0), top_k=1).metadata.name == "old-1"


def test_top_k_spreads_over_the_first_k_of_the_top_priority() -> None:
    candidates = tasks(*(task_obj(f"t{i}", index=i) for i in range(10)))
    rng = random.Random(42)
    picks = Counter(choose(candidates, rng, top_k=3).metadata.name for _ in range(300))
    assert set(picks) == {"t0", "t1", "t2"}
    assert min(picks.values()) > 60  # roughly uniform


def test_top_k_never_reaches_below_the_top_priority() -> None:
    candidates = tasks(task_obj("hi", priority=9), task_obj("lo1"), task_obj("lo2", index=1))
    rng = random.Random(1)
    assert {choose(candidates, rng, top_k=3).metadata.name for _ in range(50)} == {"hi"}


def test_choose_on_empty() -> None:
    assert choose([], random.Random(0), top_k=3) is None


def test_events_keep_the_set_current() -> None:
    cands = CandidateSet(["cap"])
    cands.replace([task_obj("a"), task_obj("b"), task_obj("x", capability="other")])
    assert ("a" in cands, "b" in cands, "x" in cands) == (True, True, False)

    sequence = [
        ("ADDED", task_obj("c", priority=3)),
        ("MODIFIED", task_obj("a", phase="Running", holder="p", epoch=1)),  # claimed
        ("DELETED", task_obj("b")),  # left the selector or deleted
        ("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
        ("MODIFIED", task_obj("d", cancel=True)),
    ]
    for event_type, obj in sequence:
        cands.apply(event_type, obj)

    assert len(cands) == 1
    assert cands.choose(random.Random(0), 3).metadata.name == "c"


def test_replace_forgets_what_the_new_list_lacks() -> None:
    cands = CandidateSet(["cap"])
    cands.replace([task_obj("a"), task_obj("b")])
    cands.replace([task_obj("b")])
    assert ("a" in cands, "b" in cands) == (False, True)


def test_restore_puts_back_only_leasable_tasks() -> None:
    cands = CandidateSet(["cap"])
    cands.restore(Task.model_validate(task_obj("a")))
    cands.restore(Task.model_validate(task_obj("b", holder="p", epoch=1)))
    assert ("a" in cands, "b" in cands) == (True, False)


def test_spread_widens_on_losses_and_narrows_on_wins() -> None:
    spread = Spread(3, widest=20)
    ks = []
    for outcome in ["lost", "lost", "lost", "won", "won", "lost"] + ["won"] * 30:
        getattr(spread, outcome)()
        ks.append(spread.k)
    assert ks[:6] == [6, 12, 20, 19, 18, 20]
    assert ks[-1] == 3
