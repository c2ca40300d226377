"""A pool's backlog and what its providers hold, read from the operator's own store.

No request is made here: the Tasks come from the store the Task watch keeps, so a pool
pass costs the live rows of its namespace's jobs, never a request per Task.
"""

from collections import Counter
from collections.abc import Iterable

from taskmill.operator.store import Store

from taskmill.api.common import TaskPhase


def wanting(store: Store, namespace: str) -> dict[str, dict[str, int]]:
    """Per job of the namespace: its Tasks that want a slot (Pending or held by a
    provider) by capability. Tasks of a job that no longer owns them do not count."""
    out: dict[str, dict[str, int]] = {}
    for (ns, job_name, owner), tasks in store.tasks.items():
        job = store.jobs.get((ns, job_name))
        if ns != namespace or job is None or job.metadata.uid != owner:
            continue
        counts = Counter(
            row.capability
            for row in tasks.live.values()
            if row.phase == TaskPhase.PENDING or row.active
        )
        if counts:
            out[job_name] = dict(counts)
    return out


def backlog(
    store: Store, namespace: str, wants: dict[str, dict[str, int]], capabilities: Iterable[str]
) -> int:
    """Tasks of these capabilities that want a slot, each job counting at most its
    parallelism (more of its Tasks cannot run at once whatever the pool's size)."""
    served = set(capabilities)
    total = 0
    for job_name, counts in wants.items():
        n = sum(count for capability, count in counts.items() if capability in served)
        job = store.jobs[(namespace, job_name)]
        limit = job.spec.parallelism
        total += n if limit is None else min(n, limit)
    return total


def holders(store: Store, namespace: str) -> Counter[str]:
    """Leases held per provider identity in the namespace."""
    held: Counter[str] = Counter()
    for (ns, _job, _owner), tasks in store.tasks.items():
        if ns == namespace:
            held.update(row.holder for row in tasks.live.values() if row.active and row.holder)
    return held
