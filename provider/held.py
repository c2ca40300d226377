"""A Task this provider holds, and the state machine of its lease.

Two regions, each changed only through the methods below:

    phase:    Running --stop--> Stopping --finish--> Finishing --end--> Ended
              Running ------------------finish--^
    renewal:  Idle --begin_renewal--> InFlight --end_renewal--> Idle

`stop_reason` says why the work was asked to stop; a graver reason overrides a
milder one (StopReason.rank). Once the final write is under way nothing stops it
and no renewal starts.
"""

from dataclasses import dataclass
from enum import StrEnum

from taskmill.provider.context import Context
from taskmill.provider.lease_clock import LeaseClock

from taskmill.api.protocol import Fence
from taskmill.api.task import Task


class StopReason(StrEnum):
    CANCELLED = "Cancelled"  # spec.cancel: terminate, then acknowledge (release, hold)
    SHUTDOWN = "Shutdown"  # provider stopping: terminate, then release to Pending
    # Could not renew in time: terminate, no more renewals; then one fenced release,
    # which the API server drops if the lease moved on meanwhile.
    DEADLINE_MISSED = "DeadlineMissed"
    LEASE_LOST = "LeaseLost"  # a write was rejected or the lease moved on: no more writes
    GONE = "Gone"  # deleted, or no longer leased to us (a watch cannot tell which)

    @property
    def rank(self) -> int:
        """A later stop overrides an earlier one of lower rank (never the same rank)."""
        return _RANKS[self]

    @property
    def renews(self) -> bool:
        """Whether the lease is still renewed while the work winds down."""
        return self.rank == 1

    @property
    def may_write(self) -> bool:
        """Whether the lease's final (fenced) write is still sent."""
        return self.rank < 3


_RANKS = {
    StopReason.CANCELLED: 1,
    StopReason.SHUTDOWN: 1,
    StopReason.DEADLINE_MISSED: 2,
    StopReason.LEASE_LOST: 3,
    StopReason.GONE: 3,
}


class Phase(StrEnum):
    RUNNING = "Running"  # the work runs; the lease is renewed when due
    STOPPING = "Stopping"  # the work was asked to stop (stop_reason says why)
    FINISHING = "Finishing"  # the final write is under way
    ENDED = "Ended"  # nothing more is sent for this lease


class Renewal(StrEnum):
    IDLE = "Idle"
    IN_FLIGHT = "InFlight"


class TransitionError(RuntimeError):
    """A transition the state machine does not have: a bug in the caller."""


@dataclass
class Held:
    task: Task
    fence: Fence
    clock: LeaseClock
    ctx: Context
    phase: Phase = Phase.RUNNING
    renewal: Renewal = Renewal.IDLE
    stop_reason: StopReason | None = None

    @property
    def name(self) -> str:
        return self.task.metadata.name

    @property
    def finishing(self) -> bool:
        return self.phase in (Phase.FINISHING, Phase.ENDED)

    @property
    def in_tail(self) -> bool:
        """The work is over; its outputs or its final write are still on their way."""
        return self.finishing or self.ctx.work_ended

    def stop(self, reason: StopReason) -> None:
        """Ask the work to stop. A graver reason overrides a milder one."""
        if self.finishing:
            return
        if self.stop_reason is None or reason.rank > self.stop_reason.rank:
            self.stop_reason = reason
        self.phase = Phase.STOPPING
        self.ctx.cancelled.set()

    def begin_renewal(self) -> None:
        if self.finishing or self.renewal is Renewal.IN_FLIGHT:
            raise TransitionError(f"task {self.name}: no renewal in {self.phase}/{self.renewal}")
        self.renewal = Renewal.IN_FLIGHT

    def end_renewal(self, sent_at: float | None) -> None:
        """The renewal answered; `sent_at` is when it was sent if the server accepted it."""
        if self.renewal is not Renewal.IN_FLIGHT:
            raise TransitionError(f"task {self.name}: no renewal in flight")
        self.renewal = Renewal.IDLE
        if sent_at is not None:
            self.clock.renewed(sent_at)

    def finish(self) -> None:
        if self.finishing:
            raise TransitionError(f"task {self.name}: already {self.phase}")
        self.phase = Phase.FINISHING

    def end(self) -> None:
        self.phase = Phase.ENDED

    def holds(self, holder: str, epoch: int) -> bool:
        """Whether a lease seen with this holder and epoch is still this one."""
        return holder == self.fence.holder and epoch == self.fence.epoch
