"""The provider's backoff policies (taskmill.kube.backoff.Backoff)."""

import asyncio
import contextlib
import random

from taskmill.kube.backoff import Backoff

# Claims: the first few losses move on at once; after that, back off briefly.
CLAIM_BACKOFF = Backoff(base=0.05, cap=2.0)
CLAIM_LOSSES_BEFORE_BACKOFF = 3
# Transient API errors (connection refused, 5xx) in watches and loops.
RETRY_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=0.5)
# Claims denied (401/403): a configuration error that only a person fixes; retry slowly.
DENIED_BACKOFF = Backoff(base=1.0, cap=60.0, jitter=0.5)


def claim_delay(consecutive_losses: int, rng: random.Random) -> float:
    """No delay for the first losses in a row; jittered exponential backoff after."""
    return CLAIM_BACKOFF.delay(consecutive_losses - CLAIM_LOSSES_BEFORE_BACKOFF + 1, rng)


async def sleep_unless(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `event` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
