"""A client-side token bucket, like client-go's default rate limiter."""

import asyncio
from collections.abc import Callable


class TokenBucket:
    """`qps` tokens a second, at most `burst` saved up; each request takes one.

    A caller that finds the bucket empty reserves the next token and sleeps until it is
    due, so waiters are served in order and never all wake at once.
    """

    def __init__(self, qps: float, burst: int, monotonic: Callable[[], float]) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self._qps = qps
        self._burst = float(burst)
        self._mono = monotonic
        self._tokens = float(burst)
        self._at = monotonic()

    def reserve(self) -> float:
        """Take a token; returns how many seconds to wait before using it."""
        now = self._mono()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._qps)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    async def take(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
