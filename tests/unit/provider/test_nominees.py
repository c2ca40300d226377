import random

import pytest
from taskmill.provider.nominees import Nominees

ME, OTHER = "me", "other"
GRACE = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def nominees(*entries: tuple[str, str, int, str]) -> tuple[Nominees, Clock]:
    """Entries (name, capability, -priority, nominee), all seen now."""
    clock = Clock()
    pool = Nominees(ME, clock, GRACE)
    for name, capability, priority, nominee in entries:
        pool.add(name, (capability, priority), nominee, clock.now)
    return pool, clock


def choices(pool: Nominees, priority: int = 0, full: frozenset[str] = frozenset()) -> set[str]:
    rng = random.Random(3)
    return {c for c in (pool.choose(rng, priority, full) for _ in range(200)) if c is not None}


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([("m", "cpu", 0, ME), ("o", "cpu", 0, OTHER), ("n", "cpu", 0, "")], {"m"}),
        ([("o", "cpu", 0, OTHER), ("n1", "cpu", 0, ""), ("n2", "cpu", 0, "")], {"n1", "n2"}),
        ([("o", "cpu", 0, OTHER)], set()),  # another's, not yet waited for
        ([("m", "cpu", -1, ME), ("n", "cpu", 0, "")], {"n"}),  # only the asked priority
        ([("m", "gpu", 0, ME), ("n", "cpu", 0, "")], {"n"}),  # gpu is full
    ],
)
def test_own_nominees_first_then_open_ones(
    entries: list[tuple[str, str, int, str]], expected: set[str]
) -> None:
    pool, _ = nominees(*entries)
    assert choices(pool, full=frozenset({"gpu"})) == expected


def test_anothers_nominee_opens_after_the_grace() -> None:
    pool, clock = nominees(("o1", "cpu", 0, OTHER))
    clock.now += 1.0
    pool.add("o2", ("cpu", 0), OTHER, clock.now)
    assert pool.ripe_in() == pytest.approx(GRACE - 1.0)
    clock.now += GRACE - 1.0
    assert choices(pool) == {"o1"}
    assert pool.ripe_in() == pytest.approx(1.0)
    clock.now += 1.0
    assert choices(pool) == {"o1", "o2"}
    assert pool.ripe_in() is None


def test_seen_long_ago_is_open_at_once() -> None:
    pool, clock = nominees()
    pool.add("o", ("cpu", 0), OTHER, clock.now - GRACE)
    assert choices(pool) == {"o"}


def test_removed_names_are_never_chosen_nor_waited_for() -> None:
    pool, clock = nominees(("m", "cpu", 0, ME), ("n", "cpu", 0, ""), ("o", "cpu", 0, OTHER))
    for name in ("m", "n", "o"):
        pool.remove(name, ("cpu", 0))
    assert pool.ripe_in() is None
    clock.now += GRACE
    assert choices(pool) == set()


def test_clear_forgets_everything() -> None:
    pool, clock = nominees(("m", "cpu", 0, ME), ("o", "cpu", 0, OTHER))
    pool.clear()
    clock.now += GRACE
    assert (choices(pool), pool.ripe_in()) == (set(), None)
