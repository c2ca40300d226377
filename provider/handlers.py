"""The SDK's executor: call the registered handler for the task's capability."""

import asyncio
import contextlib
import inspect
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskmill.operator.api.task import Task
from taskmill.provider.context import Context
from taskmill.provider.results import Outcome, error_outcome, handler_outcome

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Context], Any]


class HandlerRunner:
    """Runs async handlers on the event loop and sync handlers in a thread pool.

    A handler that is still running `kill_grace_seconds` after ctx.cancelled was set is
    abandoned: an async one is cancelled, a sync one's thread is left to finish on its
    own (Python cannot kill a thread); either way its result is never written.
    """

    def __init__(self, handlers: dict[str, Handler], concurrency: int, kill_grace_seconds: float):
        self._handlers = handlers
        self._kill_grace = kill_grace_seconds
        # Spare threads so that abandoned handlers do not starve new work.
        self._threads = ThreadPoolExecutor(max_workers=concurrency * 2, thread_name_prefix="task")

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        handler = self._handlers[task.spec.capability]
        running = asyncio.ensure_future(self._call(handler, ctx))
        cancelled = asyncio.ensure_future(ctx.cancelled.wait())
        await asyncio.wait({running, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        cancelled.cancel()
        if not running.done():
            done, _ = await asyncio.wait({running}, timeout=self._kill_grace)
            if not done:
                log.warning("task %s: handler ignored cancellation; abandoned", ctx.name)
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                return error_outcome(TimeoutError("handler abandoned"), "")
        return running.result()

    async def _call(self, handler: Handler, ctx: Context) -> Outcome:
        try:
            if inspect.iscoroutinefunction(handler):
                value = await handler(ctx.params, ctx)
            else:
                loop = asyncio.get_running_loop()
                value = await loop.run_in_executor(self._threads, handler, ctx.params, ctx)
        except Exception as e:
            return error_outcome(e, traceback.format_exc())
        return handler_outcome(value)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
