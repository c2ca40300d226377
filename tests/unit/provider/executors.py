"""Executors for unit tests: finish at once, or run until told to stop."""

import asyncio

from taskmill.provider.context import Context
from taskmill.provider.results import Outcome, handler_outcome

from taskmill.api.task import Task


class Returns:
    def __init__(self, outcome: Outcome | None = None, error: BaseException | None = None) -> None:
        self.outcome = outcome or handler_outcome({"ok": True})
        self.error = error

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        if self.error is not None:
            raise self.error
        return self.outcome


class UntilCancelled:
    def __init__(self, progress: int | None = None) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.finish = asyncio.Event()  # set by a test to end the work without a stop
        self.progress = progress  # reported once at the start, if given

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        self.started.set()
        if self.progress is not None:
            ctx.progress(self.progress)
        stop = asyncio.ensure_future(ctx.cancelled.wait_async())
        done = asyncio.ensure_future(self.finish.wait())
        await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        done.cancel()
        if ctx.cancelled.is_set():
            self.cancelled.set()
        return handler_outcome("finished anyway")
