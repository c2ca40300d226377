"""When a held lease must be renewed, and when the holder must give up on it.

Measured on the monotonic clock from the moment the last successful renewal was
*sent*: the server saw it no earlier than that, so the holder's view of its own
deadline is never later than the operator's. A holder that has not renewed for
duration - margin stops the work by itself, before the operator can hand the task to
someone else (client-go's RenewDeadline < LeaseDuration). The margin covers the kill
grace (SIGTERM to SIGKILL) plus a slack for the heartbeat's tick and the request, so
the old work is dead, not just told to stop, by the time the lease can move on.

A lease bound to the provider's presence Lease (status.lease.presenceInstance) is
renewed by that Lease's renewals alone: its deadline runs from the last accepted
presence renewal, and the holder writes the task again only to report progress, at
most once per renewal interval. When the presence renewals stop getting through,
every bound lease reaches its deadline at the same moment, as the operator ends them
together when the presence Lease lapses.
"""

import math
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
class PresenceRenewals:
    """The presence Lease as its holder knows it: the instance id it carries, and the
    monotonic time the last accepted renewal (or the creation) was sent."""

    instance: str
    last_renewed: float = -math.inf

    def renewed(self, sent_at: float) -> None:
        self.last_renewed = max(self.last_renewed, sent_at)


@dataclass
class LeaseClock:
    duration: float
    interval: float
    margin: float
    last_renewed: float  # monotonic time the last successful renewal (or the claim) was sent
    # Set when the lease is bound to the presence Lease: its renewals keep the lease.
    presence: PresenceRenewals | None = None

    @classmethod
    def start(
        cls, timing: LeaseTiming, sent_at: float, presence: PresenceRenewals | None = None
    ) -> "LeaseClock":
        return cls(
            duration=timing.duration,
            interval=timing.interval,
            margin=timing.margin,
            last_renewed=sent_at,
            presence=presence,
        )

    @property
    def deadline(self) -> float:
        """The monotonic time by which the holder must have stopped its work. A bound
        lease counts only the presence renewals: the operator ends it when the presence
        Lease lapses, however recently the task itself was written."""
        renewed = self.last_renewed if self.presence is None else self.presence.last_renewed
        return renewed + self.duration - self.margin

    def renewal_due(self, now: float, progress: bool) -> bool:
        """Whether the task must be written now: a renewal when due, or for a bound
        lease, progress to report (at most once per interval)."""
        if self.presence is not None and not progress:
            return False
        return now - self.last_renewed >= self.interval

    def expired(self, now: float) -> bool:
        """True once the holder can no longer be sure the lease is still its own."""
        return now >= self.deadline

    def renewed(self, sent_at: float) -> None:
        self.last_renewed = max(self.last_renewed, sent_at)
