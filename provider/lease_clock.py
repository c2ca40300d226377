"""When a held lease must be renewed, and when the holder must give up on it.

Measured on the monotonic clock from the moment the last successful renewal was
*sent*: the server saw it no earlier than that, so the holder's view of its own
deadline is never later than the operator's. A holder that has not renewed for
duration - margin stops the work by itself, before the operator can hand the task to
someone else (client-go's RenewDeadline < LeaseDuration). The margin covers the kill
grace (SIGTERM to SIGKILL) plus a slack for the heartbeat's tick and the request, so
the old work is dead, not just told to stop, by the time the lease can move on.
"""

from dataclasses import dataclass

# Time the holder needs between its last renewal and its own deadline: two renewals
# of at least a second each, so one failed renewal is not yet a missed deadline.
MIN_WINDOW = 2.0


def slack(duration_seconds: float) -> float:
    return max(1.0, duration_seconds / 10)


def kill_grace_fits(duration_seconds: int, kill_grace_seconds: float) -> bool:
    return duration_seconds - slack(duration_seconds) - kill_grace_seconds >= MIN_WINDOW


def shortest_lease(kill_grace_seconds: float) -> int:
    """The shortest lease whose margin covers this kill grace."""
    duration = 1
    while not kill_grace_fits(duration, kill_grace_seconds):
        duration += 1
    return duration


@dataclass(frozen=True)
class LeaseTiming:
    """How one lease is held: its duration, renewal interval and the work's kill grace.

    A task may allow a shorter lease than the provider's own; its kill grace then
    shrinks to what that lease can cover.
    """

    duration: int
    interval: int
    kill_grace: float

    @classmethod
    def of(cls, duration_seconds: int, kill_grace_seconds: float) -> "LeaseTiming":
        room = duration_seconds - slack(duration_seconds) - MIN_WINDOW
        kill_grace = max(0.0, min(kill_grace_seconds, room))
        window = duration_seconds - slack(duration_seconds) - kill_grace
        interval = max(1, min(duration_seconds // 3, int(window // 2)))
        return cls(duration_seconds, interval, kill_grace)

    @property
    def margin(self) -> float:
        return slack(self.duration) + self.kill_grace


@dataclass
class LeaseClock:
    duration: float
    interval: float
    margin: float
    last_renewed: float  # monotonic time the last successful renewal (or the claim) was sent

    @classmethod
    def start(cls, timing: LeaseTiming, sent_at: float) -> "LeaseClock":
        return cls(
            duration=timing.duration,
            interval=timing.interval,
            margin=timing.margin,
            last_renewed=sent_at,
        )

    @property
    def deadline(self) -> float:
        """The monotonic time by which the holder must have stopped its work."""
        return self.last_renewed + self.duration - self.margin

    def renewal_due(self, now: float) -> bool:
        return now - self.last_renewed >= self.interval

    def expired(self, now: float) -> bool:
        """True once the holder can no longer be sure the lease is still its own."""
        return now >= self.deadline

    def renewed(self, sent_at: float) -> None:
        self.last_renewed = max(self.last_renewed, sent_at)
