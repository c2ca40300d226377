"""Many tasks, several providers with overlapping capabilities: priority order holds."""

import itertools
import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from taskmill.api.task import Task
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers, create, list_tasks, task_manifest

pytestmark = pytest.mark.integration

PRIORITIES = (0, 5, 10)
FLEET = [  # identity, capabilities, concurrency
    ("fleet-1", "a", 1),
    ("fleet-2", "a,b", 2),
    ("fleet-3", "b,c", 3),
    ("fleet-4", "c,a", 4),
]


def priority_inversions(tasks: list[Task]) -> list[tuple[str, str]]:
    """(earlier, later) pairs of one capability where the later one has higher priority."""
    by_capability: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_capability[task.spec.capability].append(task)
    inversions = []
    for group in by_capability.values():
        started = sorted(
            group, key=lambda t: t.status.start_time or datetime.max.replace(tzinfo=UTC)
        )
        for earlier, later in itertools.pairwise(started):
            if later.spec.priority > earlier.spec.priority:
                inversions.append((earlier.metadata.name, later.metadata.name))
    return inversions


def test_priority_order_within_each_capability(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    rng = random.Random(4)
    manifests = [
        task_manifest(
            f"t-{i:03d}",
            "abc"[i % 3],
            index=i,
            priority=rng.choice(PRIORITIES),
            batch_job=f"job-{'abc'[i % 3]}",
        )
        for i in range(200)
    ]
    # All tasks exist before any provider starts, so every one is leasable from the
    # first list on: a lower-priority start before a higher one is an inversion.
    create(cluster, namespace, *manifests)
    started = time.monotonic()
    for identity, capabilities, concurrency in FLEET:
        providers.start(identity, capabilities, ["sh", "-c", "sleep 0.05"], concurrency=concurrency)

    def all_done() -> list[Task] | None:
        tasks = list_tasks(cluster, namespace)
        return tasks if all(t.status.phase == "Succeeded" for t in tasks) else None

    tasks = wait_for(all_done, timeout=240, what="all 200 tasks to succeed", interval=1)
    elapsed = time.monotonic() - started
    assert len(tasks) == 200
    assert priority_inversions(tasks) == []
    assert all(len(t.status.history) == 1 and t.status.attempts == 0 for t in tasks)
    holders = {t.status.history[0].holder for t in tasks}
    assert holders == {identity for identity, _, _ in FLEET}
    for identity, capabilities, _ in FLEET:
        served = {t.spec.capability for t in tasks if t.status.history[0].holder == identity}
        assert served <= set(capabilities.split(","))
    print(f"\n200 tasks on 4 providers in {elapsed:.1f}s")
