"""Which live provider to nominate for a new Task.

Providers choosing on their own race for the same tasks: every claim but one is a
lost write, and for a task of spec.claim Optimistic, which stays Pending while a
provider runs it, every run but one is lost compute (taskmill.provider.nominees).
The operator knows the live providers from their presence Leases; it nominates one per
task, in the annotation taskmill.io/nominated-provider of the create: round-robin by
index over the providers serving the task's capability, each as many times per round
as it has slots, so that neighbouring tasks go to different providers. Draining
providers are left out. Nobody is nominated when no live provider serves the
capability yet: providers then choose among such tasks as they would without.
"""

from collections.abc import Iterable
from typing import Any

from taskmill.api.meta import ANNOTATION_NOMINATED
from taskmill.api.presence import Provider


class Nominations:
    """The nominees of one pass, from the live providers of the job's namespace."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self._providers = sorted((p for p in providers if not p.drain), key=_identity)
        self._rings: dict[str, list[str]] = {}

    def nominee(self, capability: str, index: int) -> str:
        ring = self._rings.get(capability)
        if ring is None:
            ring = self._rings[capability] = _ring(self._providers, capability)
        return ring[index % len(ring)] if ring else ""

    def stamp(self, task: dict[str, Any]) -> None:
        """Annotate a Task body (taskmill.operator.splitting.build_task) with its nominee."""
        spec = task["spec"]
        nominee = self.nominee(spec["capability"], spec["index"])
        if nominee:
            task["metadata"].setdefault("annotations", {})[ANNOTATION_NOMINATED] = nominee


def _identity(provider: Provider) -> str:
    return provider.identity


def _ring(providers: list[Provider], capability: str) -> list[str]:
    """One round: each provider serving `capability` once per slot (once if it did not
    say), interleaved."""
    serving = [p for p in providers if capability in p.capabilities]
    rounds = max((p.slots for p in serving), default=0)
    return [p.identity for r in range(max(rounds, 1)) for p in serving if r < max(p.slots, 1)]
