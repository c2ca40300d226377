"""When a held lease must be renewed, and when the holder must give up on it.

Measured on the monotonic clock from the moment the last successful renewal was
*sent*: the server saw it no earlier than that, so the holder's view of its own
deadline is never later than the operator's. A holder that has not renewed for
duration - margin stops the work by itself, before the operator can hand the task to
someone else (client-go's RenewDeadline < LeaseDuration).
"""

from dataclasses import dataclass


def renew_interval(duration_seconds: int) -> int:
    """A third of the lease: two renewals can fail before the lease is in danger."""
    return max(1, duration_seconds // 3)


def safety_margin(duration_seconds: int) -> float:
    return max(1.0, duration_seconds / 5)


@dataclass
class LeaseClock:
    duration: float
    interval: float
    margin: float
    last_renewed: float  # monotonic time the last successful renewal (or the claim) was sent

    @classmethod
    def start(cls, duration_seconds: int, interval_seconds: int, sent_at: float) -> "LeaseClock":
        return cls(
            duration=duration_seconds,
            interval=interval_seconds,
            margin=safety_margin(duration_seconds),
            last_renewed=sent_at,
        )

    def renewal_due(self, now: float) -> bool:
        return now - self.last_renewed >= self.interval

    def expired(self, now: float) -> bool:
        """True once the holder can no longer be sure the lease is still its own."""
        return now - self.last_renewed >= self.duration - self.margin

    def renewed(self, sent_at: float) -> None:
        self.last_renewed = max(self.last_renewed, sent_at)
