"""A Task this provider holds: its fence, its lease clock, its work, and why it stops."""

from dataclasses import dataclass
from enum import StrEnum

from taskmill.provider.context import Context
from taskmill.provider.lease_clock import LeaseClock

from taskmill.api.protocol import Fence
from taskmill.api.task import Task


class StopReason(StrEnum):
    CANCELLED = "Cancelled"  # spec.cancel: terminate, then acknowledge (release, hold)
    SHUTDOWN = "Shutdown"  # provider stopping: terminate, then release to Pending
    LEASE_LOST = "LeaseLost"  # a write was rejected or the lease moved on: no more writes
    DEADLINE_MISSED = "DeadlineMissed"  # could not renew in time: no more writes
    GONE = "Gone"  # deleted, or no longer leased to us (a watch cannot tell which)

    @property
    def may_write(self) -> bool:
        return self in (StopReason.CANCELLED, StopReason.SHUTDOWN)


@dataclass
class Held:
    task: Task
    fence: Fence
    clock: LeaseClock
    ctx: Context
    stop_reason: StopReason | None = None
    finishing: bool = False  # the final write is under way: no renewals, no more stops
    renewing: bool = False

    @property
    def name(self) -> str:
        return self.task.metadata.name

    def stop(self, reason: StopReason) -> None:
        """Ask the work to stop. A reason that forbids writes overrides one that allows them."""
        if self.finishing:
            return
        if self.stop_reason is None or (self.stop_reason.may_write and not reason.may_write):
            self.stop_reason = reason
        self.ctx.cancelled.set()

    def is_current(self, task: Task) -> bool:
        """Whether `task` (as last seen) still carries this holder's lease."""
        lease = task.status.lease
        return lease.holder == self.fence.holder and lease.epoch == self.fence.epoch
