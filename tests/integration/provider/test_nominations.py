"""Nominations with the real operator and provider processes: each new Task names the
live provider that takes it first (taskmill.io/nominated-provider), so providers do not
race for the same tasks."""

from pathlib import Path

import pytest

from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.task import Task
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers
from tests.integration.provider.test_run_first import (
    CAPABILITY,
    operator_seeing_providers,
    seen_providers,
)
from tests.integration.provider.test_with_operator import apply, job_phase, job_tasks

pytestmark = pytest.mark.integration


def test_lease_tasks_are_claimed_by_their_nominees(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    # One slot each and work that runs until the gate opens: a provider that took
    # another's nominee would leave its own to someone else.
    names = ("p-a", "p-b", "p-c")
    port = operator_seeing_providers(providers, tmp_path, *names)
    wait_for(lambda: seen_providers(port) == 3, timeout=60, what="the operator to see all")
    apply(cluster, namespace, make_batchjob("spread", CAPABILITY).spec(range={"end": 3}).obj())

    def all_claimed() -> list[Task] | None:
        tasks = job_tasks(cluster, namespace, "spread")
        return tasks if len(tasks) == 3 and all(t.status.lease.holder for t in tasks) else None

    tasks = wait_for(all_claimed, timeout=60, what="every task claimed")
    nominees = {t.metadata.name: t.metadata.labels[LABEL_NOMINEE] for t in tasks}
    assert sorted(nominees.values()) == sorted(names)
    assert {t.metadata.name: t.status.lease.holder for t in tasks} == nominees
    for name in names:
        (tmp_path / name / "go").touch()
    wait_for(lambda: job_phase(cluster, namespace, "spread") == "Succeeded", timeout=60, what="job")
