"""The local set of leasable Tasks a provider could claim, and which one to try next.

Every Pending Task of the served capabilities reaches every provider at least twice
(created, then claimed by someone), and each provider claims only a few of them
(unless providers watch only their own nominees and nobody's: --pending-watch
nominated, taskmill.provider.agent). So an event is judged from the raw object: a few
fields say whether it is a candidate and where it sorts, and the whole Task is parsed
only when it is chosen for a claim. A provider without a free slot parses nothing.

Nominated tasks (and Optimistic ones, which stay Pending while they run) are the
exception to "oldest first": taskmill.provider.nominees chooses among them, own
nominees first, so that providers do not race for the same few. Within a priority,
own nominees and the tasks nominated to nobody take turns by age; those nominated to
others, and Optimistic ones nominated to nobody, come after both.
"""

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from taskmill.provider.keyedqueue import KeyedQueue
from taskmill.provider.nominees import Nominees, steal_after

from taskmill.api.common import ClaimMode, TaskPhase
from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.task import Task

log = logging.getLogger(__name__)

# (-priority, creationTimestamp, index, name): taskmill.api.task.order_key's order. The
# API server writes creationTimestamp as RFC 3339 in UTC with a "Z" and whole seconds,
# so the text sorts as the time does.
Key = tuple[int, str, int, str]

# Whose nominee a candidate is, as a watch selects them: this provider's, nobody's, or
# another provider's. A watch covers some of these; its events and lists change only
# the candidates of the classes it covers, so watches that split the Pending Tasks
# between them (taskmill.provider.agent) cannot undo each other's news when a Task
# moves from one to another (its nomination taken off) and their events cross.
MINE, NOBODYS, OTHERS = "mine", "nobody's", "others'"
Classes = frozenset[str]
ALL: Classes = frozenset({MINE, NOBODYS, OTHERS})


def leasable(obj: dict[str, Any], capabilities: frozenset[str]) -> bool:
    """Pending, free, of a served capability, not being cancelled or deleted."""
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    return (
        status.get("phase", TaskPhase.PENDING) == TaskPhase.PENDING
        and not (status.get("lease") or {}).get("holder")
        and spec.get("capability") in capabilities
        and not spec.get("cancel")
        and (obj.get("metadata") or {}).get("deletionTimestamp") is None
    )


def order_of(obj: dict[str, Any]) -> Key:
    """Where a leasable Task sorts: highest priority first; ties: older creation, then
    lower index, then name."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return (
        -int(spec.get("priority") or 0),
        str(meta.get("creationTimestamp") or ""),
        int(spec.get("index") or 0),
        str(meta.get("name", "")),
    )


@dataclass
class Spread:
    """How many top candidates a claim chooses among.

    Starts narrow, so that ties go to the oldest tasks; doubles with every lost race,
    since losses mean other providers are choosing from the same few; narrows again
    one step per win. Either way it never reaches below the top priority.
    """

    narrowest: int
    widest: int = 64
    k: int = 0

    def __post_init__(self) -> None:
        self.k = self.k or self.narrowest

    def won(self) -> None:
        self.k = max(self.narrowest, self.k - 1)

    def lost(self) -> None:
        self.k = min(self.widest, self.k * 2)


@dataclass(frozen=True, slots=True)
class _Candidate:
    body: dict[str, Any]  # the Task as the watch delivered it, parsed when chosen
    capability: str
    key: Key
    nominated: bool  # chosen by taskmill.provider.nominees, not by key
    seen: float  # when it became a candidate here (monotonic)
    whose: str  # MINE, NOBODYS or OTHERS


class CandidateSet:
    """Leasable Tasks by name, kept current from a list and then watch events.

    Every create and every claim in the provider's capabilities is an event here, and
    every free slot asks for the best candidates; so each task is keyed once on arrival
    and kept in its capability's queue (taskmill.provider.keyedqueue), or with the
    nominees. A choice then costs O(k log n) per capability, not a sort of every
    candidate, also when some capabilities are at their own limit.
    """

    def __init__(
        self,
        capabilities: Iterable[str],
        identity: str = "",
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capabilities = frozenset(capabilities)
        self._identity = identity
        self._mono = mono
        self._candidates: dict[str, _Candidate] = {}
        self._queues: dict[str, KeyedQueue] = {}
        self._whose: Counter[str] = Counter()
        self._nominees = Nominees(identity, mono)

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, name: object) -> bool:
        return name in self._candidates

    def replace(self, objects: Iterable[dict[str, Any]], covers: Classes = ALL) -> None:
        """A fresh list of the candidates of the classes `covers`: forget those of these
        classes not in it."""
        if covers == ALL:
            self._candidates, self._queues, self._whose = {}, {}, Counter()
            self._nominees.clear()
        else:
            self.drop(covers)
        for obj in objects:
            self.apply("ADDED", obj, covers)

    def apply(self, event_type: str, obj: dict[str, Any], covers: Classes = ALL) -> None:
        """One event of a watch of the classes `covers`. DELETED also arrives when a task
        stops matching the selectors: it no longer is of these classes, or no longer
        Pending."""
        name = obj.get("metadata", {}).get("name", "")
        if event_type == "BOOKMARK" or not name:
            return
        if event_type != "DELETED" and leasable(obj, self._capabilities):
            self._put(name, obj)
            return
        old = self._candidates.get(name)
        if old is not None and old.whose in covers:
            self.discard(name)

    def count(self, covers: Classes) -> int:
        """How many candidates of the classes `covers` there are."""
        return sum(self._whose[whose] for whose in covers)

    def drop(self, covers: Classes) -> None:
        """Forget the candidates of the classes `covers` (their watch stopped)."""
        for name in [n for n, c in self._candidates.items() if c.whose in covers]:
            self.discard(name)

    def restore(self, task: Task) -> None:
        """Put back a task whose claim failed for a reason that says nothing about it."""
        body = task.wire()
        if leasable(body, self._capabilities) and task.metadata.name not in self._candidates:
            self._put(task.metadata.name, body)

    def discard(self, name: str) -> None:
        old = self._candidates.pop(name, None)
        if old is not None:
            self._forget(name, old)

    def ripe_in(self) -> float | None:
        """Seconds until a candidate this provider may not take yet (one nominated to
        another provider) may be taken, if there is one."""
        return self._nominees.ripe_in()

    def choose(
        self, rng: random.Random, top_k: int, full: frozenset[str] = frozenset()
    ) -> Task | None:
        """Of the highest priority present, leaving out the capabilities in `full` (at
        their own concurrency limit), parsed: a random one among the first top_k of
        those nominated to nobody, unless an own nominee is older; else the one that
        taskmill.provider.nominees chooses (None while there is none of either).

        The spread keeps providers that see the same set from all racing for one task;
        it never reaches below the top priority, so a lower-priority task is only tried
        when no higher one is left.
        """
        while True:
            name = self._pick(rng, top_k, full)
            if name is None:
                return None
            try:
                return Task.model_validate(self._candidates[name].body)
            except ValidationError as e:
                log.warning("task %s: not a valid Task (%s); skipped", name, e)
                self.discard(name)

    def _pick(self, rng: random.Random, top_k: int, full: frozenset[str]) -> str | None:
        tops = [
            queue.first(top_k)
            for capability, queue in self._queues.items()
            if capability not in full
        ]
        best = sorted(entry for top in tops for entry in top)[:top_k]
        nominated = self._nominees.top(full)
        priorities = [best[0][0][0]] if best else []
        if nominated is not None:
            priorities.append(nominated)
        if not priorities:
            return None
        top_priority = min(priorities)
        names = [name for key, name in best if key[0] == top_priority]
        own = self._nominees.first_own(top_priority, full)
        if names and (own is None or best[0][0] < own):
            return rng.choice(names)
        return self._nominees.choose(rng, top_priority, full)

    def heap_size(self) -> int:
        """Entries in the queues' heaps, stale ones included (bounded)."""
        return sum(queue.entries() for queue in self._queues.values())

    def _put(self, name: str, body: dict[str, Any]) -> None:
        capability, key = str(body["spec"]["capability"]), order_of(body)
        run_first = body["spec"].get("claim") == ClaimMode.OPTIMISTIC
        labels = body.get("metadata", {}).get("labels") or {}
        nominee = str(labels.get(LABEL_NOMINEE, ""))
        old = self._candidates.get(name)
        seen = self._mono() if old is None else old.seen
        if old is not None:
            self._forget(name, old)
        nominated = run_first or bool(nominee)
        if nominated:
            wait = steal_after(run_first, float(body["spec"].get("timeoutSeconds") or 0))
            self._nominees.add(name, (capability, key[0]), key, nominee, seen, wait)
        else:
            self._queues.setdefault(capability, KeyedQueue()).add(name, key)
        whose = NOBODYS if not nominee else MINE if nominee == self._identity else OTHERS
        self._candidates[name] = _Candidate(body, capability, key, nominated, seen, whose)
        self._whose[whose] += 1

    def _forget(self, name: str, old: _Candidate) -> None:
        self._whose[old.whose] -= 1
        if old.nominated:
            self._nominees.remove(name)
            return
        queue = self._queues.get(old.capability)
        if queue is not None:
            queue.remove(name)
            if not queue:
                del self._queues[old.capability]
