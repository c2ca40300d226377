"""The SDK's executor: call the registered handler for the task's capability.

A handler is any callable taking `(params)` or `(params, ctx)`: a function, a bound
method, a functools.partial, an object with `__call__`; sync or async. What it
accepts is read once, at registration (`register`), and refused there when it
cannot work: every task then finds it ready.
"""

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from taskmill.provider.context import Context
from taskmill.provider.options import HandlerOptions
from taskmill.provider.results import (
    MAX_MESSAGE,
    Outcome,
    error_outcome,
    handler_outcome,
    invalid_params_outcome,
    own_cancellation,
)

from taskmill.api.task import Task, TaskResult

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
REASON_HANDLER_TIMEOUT = "HandlerTimeout"
# Annotations that mean "the params as they are": no validation.
_RAW = (inspect.Parameter.empty, Any, dict, dict[str, Any])


@dataclass(frozen=True)
class Registered:
    """A handler as registered: how to call it and what it accepts."""

    fn: Handler
    is_async: bool
    takes_ctx: bool
    params: TypeAdapter[Any] | None  # None: the params dict as it is
    options: HandlerOptions

    def parse(self, params: dict[str, Any]) -> Any:
        """The handler's params argument. Raises ValidationError."""
        return params if self.params is None else self.params.validate_python(params)

    def call(self, params: Any, ctx: Context) -> Any:
        return self.fn(params, ctx) if self.takes_ctx else self.fn(params)


def register(fn: Handler, options: HandlerOptions | None = None) -> Registered:
    """Read what `fn` accepts; ValueError (TypeError for a non-callable) names what is wrong."""
    if not callable(fn):
        raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError) as e:
        raise ValueError(f"handler {_name(fn)}: cannot resolve its annotations: {e}") from None
    except ValueError:
        signature = None  # a builtin without a signature: assume (params, ctx)
    takes_ctx, annotation = _shape(fn, signature)
    adapter = None
    if annotation not in _RAW:
        try:
            adapter = TypeAdapter(annotation)
        except Exception as e:  # pydantic refuses the type: say so now, not per task
            raise ValueError(
                f"handler {_name(fn)}: params annotation {annotation!r} cannot be "
                f"validated by pydantic: {e}"
            ) from None
    return Registered(fn, _is_async(fn), takes_ctx, adapter, options or HandlerOptions())


def _shape(fn: Handler, signature: inspect.Signature | None) -> tuple[bool, Any]:
    """Whether the handler takes ctx, and the annotation of its params."""
    if signature is None:
        return True, inspect.Parameter.empty
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    required = [p for p in positional if p.kind != p.VAR_POSITIONAL and p.default is p.empty]
    others = [
        p
        for p in signature.parameters.values()
        if p.kind == p.KEYWORD_ONLY and p.default is p.empty
    ]
    if not positional or len(required) > 2 or others:
        raise ValueError(
            f"handler {_name(fn)} must take (params) or (params, ctx), not {signature}"
        )
    varargs = positional[-1].kind == inspect.Parameter.VAR_POSITIONAL
    return len(positional) >= 2 or varargs, positional[0].annotation


def _is_async(fn: Handler) -> bool:
    """An async def, also behind functools.partial, or an object with an async __call__."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(call)


def _name(fn: Handler) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class HandlerRunner:
    """Runs async handlers on the event loop and sync handlers each in a thread.

    A handler that is still running ctx.kill_grace_seconds after ctx.cancelled was set is
    abandoned: an async one is cancelled, a sync one's thread is left to finish on its
    own (Python cannot kill a thread); either way its result is never written.
    """

    def __init__(self, handlers: dict[str, Registered]) -> None:
        self._handlers = handlers

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        handler = self._handlers[task.spec.capability]
        timeout = handler.options.timeout
        running = asyncio.ensure_future(self._call(handler, ctx))
        stopped = asyncio.ensure_future(ctx.cancelled.wait_async(timeout))
        try:
            await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                return running.result()
            timed_out = not ctx.cancelled.is_set()
            ctx.cancelled.set()  # a timeout stops the work like any other stop
            done, _ = await asyncio.wait({running}, timeout=ctx.kill_grace_seconds)
            if not done:
                ctx.log.warning("handler ignored cancellation; abandoned")
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            if timed_out:
                return handler.options.retry.apply(_timed_out(timeout), None, ctx.attempt)
            # Stopped from outside: what is written depends on why, not on this.
            return running.result() if done else error_outcome(TimeoutError("abandoned"), "")
        finally:
            # Both are done by now unless execute itself was cancelled: then the handler
            # must not run on unowned.
            stopped.cancel()
            running.cancel()

    async def _call(self, handler: Registered, ctx: Context) -> Outcome:
        try:
            params = handler.parse(ctx.params)
        except ValidationError as e:
            return invalid_params_outcome(e)
        try:
            if handler.is_async:
                value = await handler.call(params, ctx)
            else:
                value = await _in_daemon_thread(handler, params, ctx)
        except BaseException as e:
            # sys.exit, KeyboardInterrupt, any BaseException: the handler's own failure,
            # which must not reach the event loop (asyncio re-raises SystemExit out of
            # it and the whole provider would stop). Only our own cancel goes on.
            if own_cancellation(e):
                raise
            return handler.options.retry.apply(
                error_outcome(e, traceback.format_exc()), e, ctx.attempt
            )
        return handler.options.retry.apply(handler_outcome(value), None, ctx.attempt)


def _timed_out(timeout: float | None) -> Outcome:
    message = f"the handler ran past its {timeout:g} s timeout"[:MAX_MESSAGE]
    return Outcome(False, TaskResult(message=message, reason=REASON_HANDLER_TIMEOUT))


class ThreadEndedError(RuntimeError):
    """A sync handler's thread ended without returning or raising."""


async def _in_daemon_thread(handler: Registered, params: Any, ctx: Context) -> Any:
    """Run a sync handler in its own daemon thread: one that ignores cancellation and is
    abandoned must not keep the process alive after shutdown (a pool's threads would).

    A callable that looked sync but returned an awaitable (a lambda around an async
    def, say) has it awaited on the event loop.
    """
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
            value = handler.call(params, ctx)
            error = None
        except BaseException as e:
            error = e
        finally:
            # Whatever ended the thread, the task hears of it. An abandoned handler may
            # outlive the event loop; its result then goes nowhere.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=call, name=f"task-{ctx.name}", daemon=True).start()
    value = await future
    if inspect.isawaitable(value):
        value = await value
    return value
