"""Lease-aware scale-down: which providers go, and when they may.

The ReplicaSet picks which pods to delete; it cannot know which ones run tasks. The
operator does: it picks idle providers first and tells them to stop claiming (the drain
signal on their presence Lease). Each one that holds nothing any more (or whose drain
timed out: its shutdown then hands the work back without counting an attempt) gets the
lowest deletion cost, and the target shrinks by exactly that many, so the ReplicaSet
removes exactly those. Pure: the caller passes what it read and `now`.
"""

from dataclasses import dataclass

from taskmill.api.presence import Provider

# controller.kubernetes.io/pod-deletion-cost on a victim's pod: the ReplicaSet deletes
# the lowest cost first, and pods without the annotation count as 0.
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
VICTIM_DELETION_COST = "-1000"


@dataclass(frozen=True)
class Member:
    """One pod of the pool's target, with what the operator knows of its provider."""

    identity: str  # the pod's name, which is its provider's identity
    held: int  # Task leases it holds (from the Task store)
    provider: Provider | None  # its live presence, None before it announced
    draining_since: float | None  # when the operator asked it to drain, if it did


def victims(members: list[Member], count: int) -> list[Member]:
    """The `count` members to remove: ones already draining first (the choice stays put),
    then those holding the fewest leases; among equals, pods not serving yet."""

    def rank(m: Member) -> tuple[bool, int, bool, str]:
        return (m.draining_since is None, m.held, m.provider is not None, m.identity)

    return sorted(members, key=rank)[: max(0, count)]


def ready_to_remove(member: Member, now: float, drain_timeout: float) -> bool:
    """Holds nothing and claims nothing (the provider said so after it stopped
    claiming), or its drain timed out."""
    since = member.draining_since
    if since is not None and now - since >= drain_timeout:
        return True
    if member.held:
        return False
    p = member.provider
    return p is None or (p.drained and p.busy == 0)
