"""The snapshot of state the operator exports (taskmill.operator.metrics): one walk over
what the store holds, at most once a second, never per Task event."""

from collections import Counter

from taskmill.operator.metrics import JobState, Snapshot
from taskmill.operator.presence import ProviderPresence
from taskmill.operator.store import Store


def snapshot(store: Store, presence: ProviderPresence | None, now: float) -> Snapshot:
    jobs = tuple(
        JobState(namespace, name, str(job.status.normalized_status))
        for (namespace, name), job in store.jobs.items()
    )
    tasks: Counter[tuple[str, str]] = Counter()
    for owned in store.tasks.values():
        for row in owned.live.values():
            tasks[(row.capability, str(row.phase))] += 1
    providers, free = presence.capacity(now) if presence is not None else ({}, {})
    return Snapshot(jobs=jobs, tasks=dict(tasks), providers=providers, free_slots=free)
