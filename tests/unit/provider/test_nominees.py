import random

import pytest
from taskmill.provider.nominees import (
    CLAIM_GRACE_SECONDS,
    NOMINATION_GRACE_SECONDS,
    STEAL_AMONG,
    Nominees,
    steal_after,
)

ME, OTHER = "me", "other"
TIMEOUT = 3.0  # the tasks' spec.timeoutSeconds
GRACE = steal_after(True, TIMEOUT)  # how long another provider's nominee waits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Entry = tuple[str, str, int, str]  # name, capability, -priority, nominee


def nominees(*entries: Entry) -> tuple[Nominees, Clock]:
    """Entries all seen now; each sorts by its name (its order key)."""
    clock = Clock()
    pool = Nominees(ME, clock)
    for entry in entries:
        add(pool, clock, *entry)
    return pool, clock


def add(pool: Nominees, clock: Clock, name: str, cap: str, priority: int, nominee: str) -> None:
    pool.add(name, (cap, priority), name, nominee, clock.now, GRACE)


def choices(pool: Nominees, priority: int = 0, full: frozenset[str] = frozenset()) -> set[str]:
    rng = random.Random(3)
    picks = (pool.choose(rng, priority, full) for _ in range(400))
    return {c for c in picks if c is not None}


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # own first, the oldest of them
        ([("m2", "cpu", 0, ME), ("m1", "cpu", 0, ME), ("o", "cpu", 0, OTHER)], {"m1"}),
        ([("m", "cpu", 0, ME), ("n", "cpu", 0, "")], {"m"}),
        # then those nominated to nobody
        ([("o", "cpu", 0, OTHER), ("n", "cpu", 0, "")], {"n"}),
        ([("o", "cpu", 0, OTHER)], set()),  # another's, not yet waited for
        ([("m", "cpu", -1, ME), ("n", "cpu", 0, "")], {"n"}),  # only the asked priority
        ([("m", "gpu", 0, ME), ("n", "cpu", 0, "")], {"n"}),  # gpu is full
    ],
)
def test_own_nominees_oldest_first_then_unnamed_ones(
    entries: list[Entry], expected: set[str]
) -> None:
    pool, _ = nominees(*entries)
    assert choices(pool, full=frozenset({"gpu"})) == expected


@pytest.mark.parametrize(
    ("run_first", "timeout", "wait"),
    [
        # a run is invisible: wait until the nominee would have stopped it
        (True, 3.0, 3.0 + NOMINATION_GRACE_SECONDS),
        (True, 0.0, NOMINATION_GRACE_SECONDS),
        # a claim shows at once: wait only for the nominee to see the task
        (False, 3.0, CLAIM_GRACE_SECONDS),
        (False, 600.0, CLAIM_GRACE_SECONDS),
    ],
)
def test_how_long_anothers_nominee_waits(run_first: bool, timeout: float, wait: float) -> None:
    assert steal_after(run_first, timeout) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("entries", "full", "top", "first_own"),
    [
        ([], frozenset(), None, None),
        ([("m", "cpu", 0, ME)], frozenset({"cpu"}), None, None),
        ([("o", "cpu", 0, OTHER), ("m", "cpu", -2, ME)], frozenset(), -2, "m"),
        ([("o", "cpu", -3, OTHER), ("m", "cpu", -2, ME)], frozenset(), -3, None),  # unripe too
        ([("o", "gpu", -3, OTHER), ("m", "cpu", -2, ME)], frozenset({"gpu"}), -2, "m"),
        ([("m2", "cpu", -2, ME), ("m1", "cpu", -2, ME)], frozenset({"gpu"}), -2, "m1"),
    ],
)
def test_the_top_priority_and_the_oldest_own_nominee(
    entries: list[Entry], full: frozenset[str], top: int | None, first_own: str | None
) -> None:
    pool, _ = nominees(*entries)
    assert pool.top(full) == top
    assert pool.first_own(top or 0, full) == first_own  # each sorts by its name


def test_a_readded_candidate_is_counted_once() -> None:
    pool, _ = nominees(("m", "cpu", 0, ME), ("m", "cpu", -1, ME))
    assert pool.top(frozenset()) == -1
    pool.remove("m")
    assert pool.top(frozenset()) is None


def test_anothers_nominee_opens_once_its_nominee_would_have_finished_a_run() -> None:
    pool, clock = nominees(("o1", "cpu", 0, OTHER))
    clock.now += 1.0
    add(pool, clock, "o2", "cpu", 0, OTHER)
    assert pool.ripe_in() == pytest.approx(GRACE - 1.0)
    clock.now += GRACE - 1.0
    assert choices(pool) == {"o1"}
    assert pool.ripe_in() == pytest.approx(1.0)
    clock.now += 1.0
    assert choices(pool) == {"o1", "o2"}
    assert pool.ripe_in() is None


def test_a_thief_takes_from_the_new_end_of_anothers_queue() -> None:
    # The nominee works oldest first; stealing what ripened last keeps the two apart.
    pool, clock = nominees()
    for i in range(STEAL_AMONG + 4):
        add(pool, clock, f"o{i:02}", "cpu", 0, OTHER)
        clock.now += 0.1
    clock.now += GRACE
    assert choices(pool) == {f"o{i:02}" for i in range(4, STEAL_AMONG + 4)}


def test_seen_long_ago_is_ripe_at_once() -> None:
    pool, clock = nominees()
    pool.add("o", ("cpu", 0), "o", OTHER, clock.now - GRACE, GRACE)
    assert choices(pool) == {"o"}


def test_removed_names_are_never_chosen_nor_waited_for() -> None:
    pool, clock = nominees(("m", "cpu", 0, ME), ("n", "cpu", 0, ""), ("o", "cpu", 0, OTHER))
    for name in ("m", "n", "o"):
        pool.remove(name)
    assert pool.ripe_in() is None
    clock.now += GRACE
    assert choices(pool) == set()


def test_clear_forgets_everything() -> None:
    pool, clock = nominees(("m", "cpu", 0, ME), ("o", "cpu", 0, OTHER))
    pool.clear()
    clock.now += GRACE
    assert (choices(pool), pool.ripe_in()) == (set(), None)
