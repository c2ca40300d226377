"""The SDK's executor: call the registered handler for the task's capability."""

import asyncio
import contextlib
import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from taskmill.provider.context import Context
from taskmill.provider.results import (
    Outcome,
    error_outcome,
    handler_outcome,
    own_cancellation,
)

from taskmill.api.task import Task

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Context], Any]


class HandlerRunner:
    """Runs async handlers on the event loop and sync handlers each in a thread.

    A handler that is still running ctx.kill_grace_seconds after ctx.cancelled was set is
    abandoned: an async one is cancelled, a sync one's thread is left to finish on its
    own (Python cannot kill a thread); either way its result is never written.
    """

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        handler = self._handlers[task.spec.capability]
        running = asyncio.ensure_future(self._call(handler, ctx))
        cancelled = asyncio.ensure_future(ctx.cancelled.wait())
        try:
            await asyncio.wait({running, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                done, _ = await asyncio.wait({running}, timeout=ctx.kill_grace_seconds)
                if not done:
                    log.warning("task %s: handler ignored cancellation; abandoned", ctx.name)
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                    return error_outcome(TimeoutError("handler abandoned"), "")
            return running.result()
        finally:
            # Both are done by now unless execute itself was cancelled: then the handler
            # must not run on unowned.
            cancelled.cancel()
            running.cancel()

    async def _call(self, handler: Handler, ctx: Context) -> Outcome:
        try:
            if inspect.iscoroutinefunction(handler):
                value = await handler(ctx.params, ctx)
            else:
                value = await _in_daemon_thread(handler, ctx)
        except BaseException as e:
            # sys.exit, KeyboardInterrupt, any BaseException: the handler's own failure,
            # which must not reach the event loop (asyncio re-raises SystemExit out of
            # it and the whole provider would stop). Only our own cancel goes on.
            if own_cancellation(e):
                raise
            return error_outcome(e, traceback.format_exc())
        return handler_outcome(value)


class ThreadEndedError(RuntimeError):
    """A sync handler's thread ended without returning or raising."""


async def _in_daemon_thread(handler: Handler, ctx: Context) -> Any:
    """Run a sync handler in its own daemon thread: one that ignores cancellation and is
    abandoned must not keep the process alive after shutdown (a pool's threads would)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def call() -> None:
        value: Any = None
        error: BaseException | None = ThreadEndedError("the handler's thread ended abruptly")
        try:
            value = handler(ctx.params, ctx)
            error = None
        except BaseException as e:
            error = e
        finally:
            # Whatever ended the thread, the task hears of it. An abandoned handler may
            # outlive the event loop; its result then goes nowhere.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=call, name=f"task-{ctx.name}", daemon=True).start()
    return await future
