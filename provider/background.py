"""Coroutines started and not awaited at once, kept so that shutdown can wait for them."""

import asyncio
from collections.abc import Coroutine
from typing import Any


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str | None = None) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, seconds: float) -> None:
        """Until all have ended or `seconds` passed, whichever is first."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)

    async def settle(self) -> None:
        """Until all have ended, whatever they raised."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
