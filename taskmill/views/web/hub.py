"""One shared, live snapshot for every browser.

The hub lists once, then watches what it listed; on a change it lists again and tells
every open page through server-sent events. Browsers never poll, and a hundred open
tabs cost the API server what one does.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from taskmill.views.dashboard import per_minute
from taskmill.views.source import Snapshot

log = logging.getLogger(__name__)

HISTORY = 120  # samples kept for the dashboard's charts
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Sample:
    at: datetime
    backlog: int
    finished_per_minute: int


class Hub:
    def __init__(
        self,
        take: Callable[[], Awaitable[Snapshot]],
        changed: Callable[[Snapshot], Awaitable[None]],
        clock: Callable[[], datetime],
    ) -> None:
        self._take = take
        self._changed = changed
        self._clock = clock
        self.snapshot: Snapshot | None = None
        self.version = 0
        self.history: deque[Sample] = deque(maxlen=HISTORY)
        self._ready = asyncio.Event()
        self._subscribers: set[asyncio.Queue[int]] = set()

    async def current(self) -> Snapshot:
        await self._ready.wait()
        assert self.snapshot is not None
        return self.snapshot

    def subscribe(self) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[int]) -> None:
        self._subscribers.discard(queue)

    async def run(self) -> None:
        while True:
            try:
                shot = await self._take()
            except Exception as e:  # the API server may be away; the page keeps the last one
                log.warning("listing failed: %s; retrying in %.0fs", e, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._publish(shot)
            await self._changed(shot)

    def _publish(self, shot: Snapshot) -> None:
        now = self._clock()
        self.snapshot = shot
        self.version += 1
        self.history.append(
            Sample(now, sum(c.pending for c in shot.capacity), per_minute(shot.tasks, now)[-1])
        )
        self._ready.set()
        for queue in self._subscribers:
            if queue.full():  # a slow page only needs to know the newest version
                queue.get_nowait()
            queue.put_nowait(self.version)
