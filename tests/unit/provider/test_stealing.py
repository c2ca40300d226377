"""The watch on others' nominees of a provider that watches only its own and nobody's:
opened once hungry for a while, closed once every slot is busy."""

import asyncio

from taskmill.provider.candidates import OTHERS, CandidateSet
from taskmill.provider.stealing import HUNGRY_SECONDS, Stealing

from tests.unit.provider.tasks import task_obj

SLOTS = 2


def test_opened_once_hungry_for_a_while_closed_once_full() -> None:
    now = [0.0]
    cands = CandidateSet(["cap"], "me", lambda: now[0])
    opened: list[float] = []

    async def watch() -> None:
        opened.append(now[0])
        cands.apply("ADDED", task_obj("theirs", nominee="other"), frozenset({OTHERS}))
        await asyncio.Event().wait()

    async def main() -> None:
        stealing = Stealing(watch, cands, SLOTS, lambda: now[0])
        assert stealing.hunger(True, False) == HUNGRY_SECONDS  # tell me again then
        now[0] = HUNGRY_SECONDS / 2
        assert stealing.hunger(True, False) == HUNGRY_SECONDS / 2
        assert stealing.hunger(False, False) is None  # it chose work: hunger starts over
        now[0] = HUNGRY_SECONDS
        assert stealing.hunger(True, False) == HUNGRY_SECONDS
        assert not stealing.watching

        now[0] = 2 * HUNGRY_SECONDS
        assert stealing.hunger(True, False) is None
        assert stealing.hunger(True, False) is None  # already open: not twice
        await asyncio.sleep(0)
        assert (opened, "theirs" in cands) == ([2 * HUNGRY_SECONDS], True)

        # It took work, a slot is still free, and less than a slot-load of its own
        # waits: keep watching.
        cands.apply("ADDED", task_obj("mine", nominee="me"))
        stealing.hunger(False, False)
        assert stealing.watching
        # Every slot busy: closed, and others' candidates forgotten.
        stealing.hunger(False, True)
        assert not stealing.watching
        assert ("theirs" in cands, "mine" in cands) == (False, True)
        await asyncio.sleep(0)
        assert opened == [2 * HUNGRY_SECONDS]

        # Hungry again (its own are all in other capabilities' full slots, say): open
        # again; then a slot-load of its own and nobody's waits: closed.
        now[0] = 3 * HUNGRY_SECONDS
        stealing.hunger(True, False)
        now[0] = 4 * HUNGRY_SECONDS
        stealing.hunger(True, False)
        assert stealing.watching
        cands.apply("ADDED", task_obj("nobodys", nominee=""))
        stealing.hunger(False, False)
        assert not stealing.watching

    asyncio.run(main())
