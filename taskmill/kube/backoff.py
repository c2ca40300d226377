"""Jittered exponential backoff, as client-go's rate limiters do it."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay after `failures` consecutive failures: base * factor^(n-1), capped, plus jitter.

    Jitter adds up to `jitter` times the delay, so clients that failed together do not
    come back in lockstep.
    """

    base: float
    cap: float
    factor: float = 2.0
    jitter: float = 1.0

    def delay(self, failures: int, rng: random.Random) -> float:
        if failures <= 0:
            return 0.0
        raw = min(self.cap, self.base * self.factor ** (failures - 1))
        return raw * (1.0 + self.jitter * rng.random())
