"""Wait for a condition by polling it, never by sleeping a fixed time."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeoutError(AssertionError):
    """A polled condition did not hold in time (an AssertionError, so tests fail, not error)."""


def wait_for(
    condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2
) -> T:
    """Call `condition` until it returns something truthy, and return that (never None:
    callers get the narrowed type)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise PollTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
