"""Which live provider to nominate for a new Task.

Providers choosing on their own race for the same tasks: every claim but one is a
lost write, and for a task of spec.claim Optimistic, which stays Pending while a
provider runs it, every run but one is lost compute (taskmill.provider.nominees).
The operator knows the live providers from their presence Leases; it nominates one per
task, in the label taskmill.io/nominee of the create: round-robin by index over the
providers serving the task's capability, each as many times per round as it has slots,
so that neighbouring tasks go to different providers. Draining providers are left out,
and so are providers whose identity cannot be a label value. Nobody is nominated when
no live provider serves the capability yet: providers then choose among such tasks as
they would without.

A label, not an annotation, so that a provider may watch only its own nominees and
those of nobody (taskmill.provider.agent, --pending-watch nominated). Such a provider
sees another's nominee only when it has nothing of its own to take. So a task is
nominated only at its capability's priority floor (taskmill.operator.floors): one that
outranks Pending tasks is nobody's, and every provider sees it. For the same reason the
operator takes the label off a Pending Task whose nominee is gone or draining, or that
a lower priority has come to wait below (Plan.unnominate).
"""

import math
from collections.abc import Callable, Iterable
from typing import Any

from taskmill.operator.splitting import task_capability, task_priority

from taskmill.api import BatchJobSpec
from taskmill.api.meta import LABEL_NOMINEE, is_label_value
from taskmill.api.presence import Provider

Floor = Callable[[str], float]  # capability -> the least priority waiting in it


class Nominations:
    """The nominees of one pass, from the live providers of the job's namespace."""

    def __init__(
        self,
        providers: Iterable[Provider],
        floor: Floor = lambda capability: math.inf,
    ) -> None:
        """`floor`: the least priority that waits in a capability, the new tasks' own
        included; a task above it is nominated to nobody."""
        self._providers = sorted(
            (p for p in providers if not p.drain and is_label_value(p.identity)), key=_identity
        )
        self._floor = floor
        self._rings: dict[str, list[str]] = {}

    def nominee(self, capability: str, index: int) -> str:
        ring = self._rings.get(capability)
        if ring is None:
            ring = self._rings[capability] = _ring(self._providers, capability)
        return ring[index % len(ring)] if ring else ""

    def stamp(self, task: dict[str, Any]) -> None:
        """Label a Task body (taskmill.operator.splitting.build_task) with its nominee."""
        spec = task["spec"]
        if spec.get("priority", 0) > self._floor(spec["capability"]):
            return
        nominee = self.nominee(spec["capability"], spec["index"])
        if nominee:
            task["metadata"].setdefault("labels", {})[LABEL_NOMINEE] = nominee


def _identity(provider: Provider) -> str:
    return provider.identity


def _ring(providers: list[Provider], capability: str) -> list[str]:
    """One round: each provider serving `capability` once per slot (once if it did not
    say), interleaved."""
    serving = [p for p in providers if capability in p.capabilities]
    rounds = max((p.slots for p in serving), default=0)
    return [p.identity for r in range(max(rounds, 1)) for p in serving if r < max(p.slots, 1)]


def floor_with(spec: BatchJobSpec, indexes: Iterable[int], waiting: Floor) -> Floor:
    """The floor once the job's new tasks at `indexes` wait too."""
    lowest: dict[str, int] = {}
    for index in indexes:
        capability, priority = task_capability(spec, index), task_priority(spec, index)
        lowest[capability] = min(lowest.get(capability, priority), priority)
    return lambda capability: min(waiting(capability), lowest.get(capability, math.inf))
