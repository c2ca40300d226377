"""Liveness per provider on a real API server: a holder's task leases live by its
presence Lease, so a running task costs no writes, and all of a provider's leases end
together when that Lease lapses."""

import contextlib
import json
import os
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskmill.api.meta import LABEL_BATCHJOB
from taskmill.api.task import Task
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers, list_tasks

pytestmark = pytest.mark.integration

LEASE = 5
GRACE = 1  # the kit's operator runs with --lease-grace-seconds 1


def apply(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def job_tasks(cluster: Cluster, namespace: str, job: str) -> list[Task]:
    tasks = list_tasks(cluster, namespace)
    return sorted(
        (t for t in tasks if t.metadata.labels.get(LABEL_BATCHJOB) == job),
        key=lambda t: t.spec.index,
    )


def held_by(cluster: Cluster, namespace: str, job: str, holder: str, count: int) -> list[Task]:
    def check() -> list[Task] | None:
        tasks = job_tasks(cluster, namespace, job)
        running = [t for t in tasks if t.status.lease.holder == holder]
        return running if len(running) == count else None

    found: list[Task] = wait_for(check, timeout=60, what=f"{holder} to hold {count} tasks")
    return found


def presence_renewed(cluster: Cluster, namespace: str, holder: str) -> datetime:
    out = cluster.kubectl(
        "get", "lease", f"taskmill-provider-{holder}", "-n", namespace,
        "-o", "jsonpath={.spec.renewTime}",
    ).stdout  # fmt: skip
    return datetime.fromisoformat(out.replace("Z", "+00:00"))


def job_succeeded(cluster: Cluster, namespace: str, job: str) -> bool:
    phase = cluster.kubectl(
        "get", "batchjob", job, "-n", namespace, "-o", "jsonpath={.status.phase}"
    ).stdout
    return phase == "Succeeded"


def test_running_tasks_outlive_their_lease_without_a_single_write(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    providers.start_operator()
    go = tmp_path / "go"
    waits = ["sh", "-c", f'while [ ! -e "{go}" ]; do sleep 0.1; done; echo done']
    providers.start("long-1", "work", waits, concurrency=2, lease_seconds=LEASE)
    job = make_batchjob("long", "work").range(end=2).spec(lease={"durationSeconds": LEASE})
    apply(cluster, namespace, job.obj())
    claimed = held_by(cluster, namespace, "long", "long-1", 2)
    assert all(t.status.lease.presence_instance for t in claimed)
    acquired = max(t.status.lease.acquire_time or datetime.max for t in claimed)
    # Well past the task leases' duration plus the operator's grace, with the presence
    # Lease renewed all along (its timestamps: the same machine's clock).
    wait_for(
        lambda: (
            presence_renewed(cluster, namespace, "long-1")
            > acquired + timedelta(seconds=LEASE + GRACE + 2)
        ),
        timeout=60,
        what="the presence Lease to be renewed past the task leases' duration",
    )
    now = {t.metadata.name: t for t in job_tasks(cluster, namespace, "long")}
    for task in claimed:
        # Not one write to a running task: the same version as its claim left it.
        assert now[task.metadata.name].metadata.resource_version == task.metadata.resource_version
    go.touch()
    wait_for(lambda: job_succeeded(cluster, namespace, "long"), timeout=60, what="the job")
    for task in job_tasks(cluster, namespace, "long"):
        assert task.status.attempts == 0
        assert [(h.holder, h.outcome) for h in task.status.history] == [("long-1", "Succeeded")]


def _kill_groups(pid_dir: Path) -> None:
    for pid_file in pid_dir.glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


def test_a_killed_providers_leases_all_end_when_its_presence_lapses(
    cluster: Cluster,
    namespace: str,
    providers: Providers,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    providers.start_operator()
    # The victim's copies work for minutes in their own process groups (a SIGKILLed
    # provider leaves them behind: the test ends them); the rescuer's finish at once.
    command = [
        "sh",
        "-c",
        f'[ "$POD_NAME" = victim ] && echo $$ > "{tmp_path}/$TASKMILL_TASK.pid" '
        '&& exec sleep 300; echo "done by $POD_NAME"',
    ]
    request.addfinalizer(lambda: _kill_groups(tmp_path))
    victim = providers.start("victim", "work", command, concurrency=3, lease_seconds=LEASE)
    job = (
        make_batchjob("lost", "work")
        .range(end=3)
        .spec(lease={"durationSeconds": LEASE}, retry={"maxAttempts": 3, "backoffSeconds": 0})
    )
    apply(cluster, namespace, job.obj())
    held_by(cluster, namespace, "lost", "victim", 3)
    wait_for(
        lambda: len(list(tmp_path.glob("*.pid"))) == 3, timeout=30, what="the commands to start"
    )
    victim.kill()
    providers.start("rescuer", "work", command, concurrency=3, lease_seconds=LEASE)
    wait_for(lambda: job_succeeded(cluster, namespace, "lost"), timeout=90, what="the job")
    ended = []
    for task in job_tasks(cluster, namespace, "lost"):
        assert task.status.result is not None
        assert task.status.result.output == "done by rescuer\n"
        assert task.status.attempts == 1
        history = [(h.holder, h.outcome, h.reason) for h in task.status.history]
        assert history == [
            ("victim", "Expired", "ProviderLost"),
            ("rescuer", "Succeeded", "Completed"),
        ]
        ended.append(task.status.history[0].time)
    # Ended together: in the operator's one pass over the job once the presence lapsed.
    assert len(set(ended)) == 1
