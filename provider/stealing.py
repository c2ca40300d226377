"""The watch on other providers' nominees, for a provider that watches only its own
nominees and nobody's (--pending-watch nominated).

Such a provider hears of a task once (when it is its nominee, or nobody's), not once
per provider; but a provider that has run out of its own work must still find the
work queued behind a busy nominee. So it opens a third watch, on others' nominees,
once it has had a free slot and nothing it may take for HUNGRY_SECONDS (`hunger`:
not at a job's start, when its own nominees are on their way), and takes from there
as any provider takes another's nominee (taskmill.provider.nominees: after the claim
grace, from the new end). It closes that watch as soon as every slot is busy (long
tasks) or a slot-load of its own and nobody's candidates waits (short ones): an idle
fleet so watches every Pending Task only until a new job's first nominees reach it.
The watch opens at most once per hungry spell, and each opening costs one list of
others' Pending Tasks.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from taskmill.provider.candidates import MINE, NOBODYS, OTHERS, CandidateSet
from taskmill.provider.nominees import CLAIM_GRACE_SECONDS

log = logging.getLogger(__name__)

# As long as a task nominated to another provider waits before it may be taken here.
HUNGRY_SECONDS = CLAIM_GRACE_SECONDS
OWN = frozenset({MINE, NOBODYS})


class Stealing:
    def __init__(
        self,
        watch: Callable[[], Coroutine[Any, Any, None]],
        candidates: CandidateSet,
        slots: int,
        mono: Callable[[], float],
    ) -> None:
        self._watch = watch  # list and watch others' nominees into `candidates`
        self._candidates = candidates
        self._slots = slots
        self._mono = mono
        self._task: asyncio.Task[None] | None = None
        self._hungry_since: float | None = None

    @property
    def watching(self) -> bool:
        return self._task is not None

    def hunger(self, hungry: bool, full: bool) -> float | None:
        """Told after each choice whether a slot is free and nothing may be taken, and
        whether every slot is busy: once hungry for HUNGRY_SECONDS, watch others'
        nominees; once full or fed, stop. Returns in how many seconds to be told again,
        while hungry and the watch is not open yet."""
        if full or self._candidates.count(OWN) >= self._slots:
            self.close()
        if not hungry:
            self._hungry_since = None
            return None
        if self._task is not None:
            return None
        now = self._mono()
        if self._hungry_since is None:
            self._hungry_since = now
        wait = self._hungry_since + HUNGRY_SECONDS - now
        if wait > 0:
            return wait
        self._open()
        return None

    def _open(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="steal-watch")
        self._task.add_done_callback(self._ended)
        log.info("nothing of its own to take: watching other providers' nominees")

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._candidates.drop(frozenset({OTHERS}))
            log.info("stopped watching other providers' nominees")

    def _ended(self, task: "asyncio.Task[None]") -> None:
        """A watch loop ends only when cancelled; anything else is a bug to hear of."""
        if not task.cancelled() and task.exception() is not None:
            log.error("the watch on other providers' nominees stopped", exc_info=task.exception())
        if self._task is task:
            self._task = None
            self._candidates.drop(frozenset({OTHERS}))
