import random
from collections import Counter
from typing import Any

import pytest
from taskmill.provider.candidates import (
    ALL,
    MINE,
    NOBODYS,
    OTHERS,
    CandidateSet,
    Spread,
    leasable,
    order_of,
)
from taskmill.provider.nominees import CLAIM_GRACE_SECONDS

from taskmill.api.task import Task, order_key
from tests.unit.provider.tasks import task_obj


def candidates(*objs: dict[str, Any]) -> CandidateSet:
    cands = CandidateSet(["cap"])
    for obj in objs:
        cands.apply("ADDED", obj)
    return cands


def chosen(cands: CandidateSet, rng: random.Random, top_k: int) -> str:
    """The name of the Task `choose` picks (there must be one)."""
    task = cands.choose(rng, top_k)
    assert task is not None
    return task.metadata.name


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"phase": "Held"}, False),
        ({"phase": "Running", "holder": "p", "epoch": 1}, False),
        ({"holder": "p", "epoch": 1}, False),
        ({"capability": "other"}, False),
        ({"cancel": True}, False),
    ],
)
def test_leasable(changes: dict[str, Any], expected: bool) -> None:
    assert leasable(task_obj("t", **changes), frozenset({"cap"})) is expected


def test_raw_order_is_the_order_of_order_key() -> None:
    objs = [
        task_obj("a", priority=1),
        task_obj("b", priority=5, created="2026-01-01T00:00:09Z"),
        task_obj("c", priority=5, index=2),
        task_obj("d", priority=5, index=1),
        task_obj("e", priority=-3, created="2025-12-31T23:59:59Z"),
        task_obj("f", priority=5, created="2026-01-01T00:00:10Z", index=0),
    ]
    by_raw = sorted(objs, key=order_of)
    by_model = sorted(objs, key=lambda o: order_key(Task.model_validate(o)))
    assert [o["metadata"]["name"] for o in by_raw] == [o["metadata"]["name"] for o in by_model]


def test_a_full_provider_parses_nothing() -> None:
    """Events only key the raw objects; a Task is built only for the one chosen."""
    cands = candidates(*(task_obj(f"t{i}", index=i) for i in range(5)))
    built: list[str] = []
    validate = Task.model_validate

    def counting(obj: Any) -> Task:
        built.append(obj["metadata"]["name"])
        return validate(obj)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(Task, "model_validate", counting)
        cands.apply("ADDED", task_obj("t9", index=9))
        assert built == []
        assert chosen(cands, random.Random(0), 1) == "t0"
    assert built == ["t0"]


def test_choose_takes_highest_priority_then_oldest_then_lowest_index() -> None:
    cands = candidates(
        task_obj("low", priority=1),
        task_obj("new", priority=5, created="2026-01-01T00:00:09Z"),
        task_obj("old-2", priority=5, index=2),
        task_obj("old-1", priority=5, index=1),
    )
    assert chosen(cands, random.Random(0), 1) == "old-1"


def test_top_k_spreads_over_the_first_k_of_the_top_priority() -> None:
    cands = candidates(*(task_obj(f"t{i}", index=i) for i in range(10)))
    rng = random.Random(42)
    picks = Counter(chosen(cands, rng, 3) for _ in range(300))
    assert set(picks) == {"t0", "t1", "t2"}
    assert min(picks.values()) > 60  # roughly uniform


def test_top_k_never_reaches_below_the_top_priority() -> None:
    cands = candidates(task_obj("hi", priority=9), task_obj("lo1"), task_obj("lo2", index=1))
    rng = random.Random(1)
    assert {chosen(cands, rng, 3) for _ in range(50)} == {"hi"}


def test_choose_on_empty() -> None:
    assert candidates().choose(random.Random(0), top_k=3) is None


def test_stale_entries_never_win_and_do_not_pile_up() -> None:
    cands = candidates(*(task_obj(f"t{i}", index=i) for i in range(200)))
    for i in range(0, 200, 2):
        cands.discard(f"t{i}")  # claimed by others: gone from the set
    cands.apply("MODIFIED", task_obj("t199", index=199, priority=7))  # re-keyed
    rng = random.Random(3)
    assert chosen(cands, rng, 1) == "t199"
    cands.discard("t199")
    assert chosen(cands, rng, 1) == "t1"
    for i in range(1, 199, 2):
        cands.apply("MODIFIED", task_obj(f"t{i}", index=i, priority=1))
    assert cands.heap_size() <= 2 * len(cands) + 64


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
    assert chosen(cands, random.Random(0), 3) == "c"


def test_replace_forgets_what_the_new_list_lacks() -> None:
    cands = CandidateSet(["cap"])
    cands.replace([task_obj("a"), task_obj("b")])
    cands.replace([task_obj("b")])
    assert ("a" in cands, "b" in cands) == (False, True)


def test_an_invalid_candidate_is_skipped() -> None:
    bad = task_obj("a")
    bad["spec"]["maxAttempts"] = "many"
    cands = candidates(bad, task_obj("b", index=1))
    assert chosen(cands, random.Random(0), 1) == "b"
    assert "a" not in cands


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


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        (frozenset(), "a1"),  # the highest priority over all capabilities
        (frozenset({"a"}), "b1"),  # "a" at its own limit: the best of the rest
        (frozenset({"a", "b"}), "c1"),
        (frozenset({"a", "b", "c"}), None),
    ],
)
def test_choose_across_capabilities_leaves_out_full_ones(
    full: frozenset[str], expected: str | None
) -> None:
    cands = CandidateSet(["a", "b", "c"])
    for capability, priority in (("a", 9), ("b", 5), ("c", 1)):
        for i in range(3):
            name = f"{capability}{i}"
            cands.apply("ADDED", task_obj(name, capability=capability, index=i, priority=priority))
    cands.discard("a0")
    cands.discard("b0")
    cands.discard("c0")
    task = cands.choose(random.Random(0), 1, full)
    assert (task.metadata.name if task else None) == expected


def optimistic(name: str, index: int = 0, **changes: Any) -> dict[str, Any]:
    return task_obj(name, index=index, claim="Optimistic", **changes)


def test_providers_choose_different_unnamed_optimistic_candidates() -> None:
    # They stay Pending while they run: the top few would be run by everyone at once.
    tasks = [optimistic(f"t{i}", i) for i in range(100)]
    picks = set()
    for provider in range(8):
        cands = CandidateSet(["cap"], identity=f"p{provider}")
        cands.replace(tasks)
        picks.add(chosen(cands, random.Random(7), 2))
    assert len(picks) >= 6


@pytest.mark.parametrize(
    ("objs", "allowed"),
    [
        # a higher priority first, whatever its claim mode
        ([task_obj("hi", priority=5), *(optimistic(f"o{i}", i) for i in range(9))], {"hi"}),
        ([optimistic("hi", priority=5), *(optimistic(f"o{i}", i) for i in range(9))], {"hi"}),
        # Lease candidates keep their order within the top k
        ([*(task_obj(f"l{i}", index=i) for i in range(9)), optimistic("o", 99)], {"l0", "l1"}),
        # Optimistic ones nominated to nobody wait behind the others of their priority
        (
            [
                optimistic("o0"),
                task_obj("l1", index=1),
                *(optimistic(f"o{i}", i) for i in range(2, 9)),
            ],
            {"l1"},
        ),
    ],
)
def test_optimistic_choice_keeps_priority_and_lease_order(
    objs: list[dict[str, Any]], allowed: set[str]
) -> None:
    cands = candidates(*objs)
    rng = random.Random(11)
    assert {chosen(cands, rng, 2) for _ in range(300)} <= allowed


def test_optimistic_choice_follows_events_and_full_capabilities() -> None:
    cands = CandidateSet(["a", "b"])
    for i in range(20):
        cands.apply("ADDED", optimistic(f"a{i}", i, capability="a"))
    cands.apply("ADDED", optimistic("b0", capability="b"))
    for i in range(1, 20):
        cands.discard(f"a{i}")
    cands.apply("MODIFIED", optimistic("a0", phase="Running", holder="p", epoch=1, capability="a"))
    rng = random.Random(5)
    assert {chosen(cands, rng, 3) for _ in range(50)} == {"b0"}
    cands.apply("ADDED", optimistic("b1", 1, capability="b", priority=2))  # re-keyed upward
    cands.apply("MODIFIED", optimistic("b0", capability="b", priority=2))
    first = chosen(cands, rng, 1)
    cands.discard(first)
    assert {first, chosen(cands, rng, 1)} == {"b0", "b1"}
    assert cands.choose(rng, 3, frozenset({"b"})) is None


def lease(name: str, index: int, nominee: str, **changes: Any) -> dict[str, Any]:
    return task_obj(name, index=index, nominee=nominee, **changes)


@pytest.mark.parametrize(
    ("objs", "allowed"),
    [
        # own nominees first, whatever their order among all
        ([lease("o0", 0, "other"), lease("o1", 1, "other"), lease("m2", 2, "me")], {"m2"}),
        # own nominees and tasks nominated to nobody take turns by age
        ([task_obj("n0", index=0), lease("m1", 1, "me")], {"n0"}),
        ([lease("m0", 0, "me"), task_obj("n1", index=1)], {"m0"}),
        # others' nominees only when nothing else of the priority is left, and not yet
        ([task_obj("n0", index=0), lease("o1", 1, "other")], {"n0"}),
        ([lease("o1", 1, "other")], {None}),
        # never a lower priority while a higher one waits for its nominee
        ([lease("o0", 0, "other", priority=2), task_obj("n1", index=1)], {None}),
    ],
)
def test_nominated_lease_candidates(objs: list[dict[str, Any]], allowed: set[str | None]) -> None:
    cands = CandidateSet(["cap"], identity="me")
    cands.replace(objs)
    rng = random.Random(13)
    picks = (cands.choose(rng, 2) for _ in range(100))
    assert {task.metadata.name if task else None for task in picks} == allowed


def test_anothers_lease_nominee_is_taken_after_the_claim_grace() -> None:
    now = [50.0]
    cands = CandidateSet(["cap"], identity="me", mono=lambda: now[0])
    cands.apply("ADDED", lease("o", 0, "other", priority=2))
    cands.apply("ADDED", task_obj("n", index=1))
    assert cands.ripe_in() == pytest.approx(CLAIM_GRACE_SECONDS)
    assert cands.choose(random.Random(1), 2) is None
    now[0] += CLAIM_GRACE_SECONDS
    assert chosen(cands, random.Random(1), 2) == "o"
    cands.apply("MODIFIED", lease("o", 0, "other", priority=2, holder="other", epoch=1))
    assert (chosen(cands, random.Random(1), 2), cands.ripe_in()) == ("n", None)


MINE_ONLY, NOBODYS_ONLY = frozenset({MINE}), frozenset({NOBODYS})


def whose(cands: CandidateSet, name: str) -> str | None:
    """The class a candidate is kept under (found by dropping one class at a time)."""
    for candidate_class in (MINE, NOBODYS, OTHERS):
        if name in cands:
            cands.drop(frozenset({candidate_class}))
            if name not in cands:
                return candidate_class
    return None


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # the operator takes the nomination off: nobody's watch hears of it first, and
        # my watch's DELETED (it no longer matches) comes after; it stays a candidate
        ([("ADDED", "me", MINE_ONLY), ("ADDED", "", NOBODYS_ONLY), ("DELETED", "me", MINE_ONLY)],
         NOBODYS),
        # the same events in the other order
        ([("ADDED", "me", MINE_ONLY), ("DELETED", "me", MINE_ONLY), ("ADDED", "", NOBODYS_ONLY)],
         NOBODYS),
        # claimed: it leaves my watch, and is gone
        ([("ADDED", "me", MINE_ONLY), ("DELETED", "me", MINE_ONLY)], None),
        # one watch of every class (--pending-watch all): any DELETED is final
        ([("ADDED", "me", ALL), ("DELETED", "", ALL)], None),
        ([("ADDED", "other", frozenset({OTHERS})), ("DELETED", "other", MINE_ONLY)], OTHERS),
    ],
)  # fmt: skip
def test_watches_of_some_classes_change_only_their_candidates(
    events: list[tuple[str, str, frozenset[str]]], expected: str | None
) -> None:
    cands = CandidateSet(["cap"], "me")
    for event_type, nominee, covers in events:
        cands.apply(event_type, task_obj("t", nominee=nominee), covers)
    assert len(cands) == (expected is not None)
    assert whose(cands, "t") == expected


def test_a_list_or_a_stopped_watch_replaces_only_its_classes() -> None:
    cands = CandidateSet(["cap"], "me")
    cands.replace([task_obj("a", nominee="me"), task_obj("b", nominee="me")], MINE_ONLY)
    cands.replace([task_obj("c"), task_obj("d")], NOBODYS_ONLY)
    cands.replace([task_obj("e", nominee="other")], frozenset({OTHERS}))
    cands.replace([task_obj("a", nominee="me")], MINE_ONLY)  # b was claimed meanwhile
    assert sorted(n for n in "abcde" if n in cands) == ["a", "c", "d", "e"]
    cands.drop(frozenset({OTHERS}))
    assert sorted(n for n in "abcde" if n in cands) == ["a", "c", "d"]
    assert (whose(cands, "a"), whose(cands, "c")) == (MINE, NOBODYS)
