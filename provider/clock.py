"""The two clocks the provider reads, injectable so tests can drive time."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """wall: timestamps written to the API server; mono: every duration measured here."""

    wall: Callable[[], datetime] = field(default=_utc_now)
    mono: Callable[[], float] = field(default=time.monotonic)
