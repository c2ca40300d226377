"""The stop signal of one piece of work, for threads and coroutines alike.

Sync handlers run in their own thread and async ones on the event loop; both must be
able to wait for a stop without polling, and the signal is set from the event loop
(or from any thread), so it is a threading.Event with awaitable waits on top.
"""

import asyncio
import contextlib
import threading


class Cancellation:
    """Set once, when the work must stop; never cleared."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, set()
        for loop, future in waiters:
            # A waiter's loop may have closed meanwhile (an abandoned thread's run_local,
            # say): nobody is left to wake there.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until set or `timeout` passes; whether it is set. For sync
        code: on the event loop it would stall every task, so it refuses to run there."""
        if _on_event_loop():
            raise RuntimeError(
                "ctx.cancelled.wait() blocks its thread; in a coroutine use "
                "`await ctx.cancelled.wait_async()`"
            )
        return self._event.wait(timeout)

    # As threading.Event.wait: a timeout answers False instead of raising.
    async def wait_async(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until set or `timeout` passes; whether it is set."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if self._event.is_set():
                return True
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)
        return self._event.is_set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
