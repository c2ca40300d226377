"""Providers and the real operator together: BatchJobs in, results out."""

import contextlib
import itertools
import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from taskmill.api.meta import LABEL_BATCHJOB
from taskmill.api.task import Task
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import (
    Providers,
    get_task,
    list_tasks,
    process_alive,
    recorded_pids,
    wait_task,
    write_pid_command,
)
from tests.integration.provider.test_ordering import FLEET, PRIORITIES, priority_inversions

pytestmark = pytest.mark.integration


def apply(cluster: Cluster, namespace: str, *manifests: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def job_phase(cluster: Cluster, namespace: str, name: str) -> str:
    return cluster.kubectl(
        "get", "batchjob", name, "-n", namespace, "-o", "jsonpath={.status.phase}"
    ).stdout


def job_tasks(cluster: Cluster, namespace: str, job: str) -> list[Task]:
    return [
        t for t in list_tasks(cluster, namespace) if t.metadata.labels.get(LABEL_BATCHJOB) == job
    ]


def test_200_tasks_four_providers_priority_order(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start_operator()
    rng = random.Random(11)
    jobs = [
        make_batchjob(f"job-{capability}", capability)
        .spec(
            tasks=[
                {"name": f"t{i}", "params": {"i": i}, "priority": rng.choice(PRIORITIES)}
                for i in range(count)
            ]
        )
        .obj()
        for capability, count in (("a", 70), ("b", 70), ("c", 60))
    ]
    apply(cluster, namespace, *jobs)
    # Providers start once every Task exists: all are leasable from their first list on.
    wait_for(
        lambda: len(list_tasks(cluster, namespace)) == 200,
        timeout=60,
        what="the operator to create 200 Tasks",
        interval=1,
    )
    started = time.monotonic()
    for identity, capabilities, concurrency in FLEET:
        providers.start(identity, capabilities, ["sh", "-c", "sleep 0.05"], concurrency=concurrency)
    wait_for(
        lambda: all(
            job_phase(cluster, namespace, j["metadata"]["name"]) == "Succeeded" for j in jobs
        ),
        timeout=240,
        what="all three jobs to succeed",
        interval=1,
    )
    elapsed = time.monotonic() - started
    tasks = list_tasks(cluster, namespace)
    assert len(tasks) == 200
    assert all(t.status.phase == "Succeeded" and t.status.attempts == 0 for t in tasks)
    assert priority_inversions(tasks) == []
    print(f"\n200 tasks through the operator on 4 providers in {elapsed:.1f}s")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def test_killed_provider_task_is_reassigned_with_one_result(
    cluster: Cluster,
    namespace: str,
    providers: Providers,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    providers.start_operator()
    # The victim's copy of the command works for minutes; the rescuer's finishes at once.
    # Its process group outlives a SIGKILLed provider (a pod would take it along): the
    # test records it to end it.
    pgid_file = tmp_path / "victim.pgid"
    command = [
        "sh",
        "-c",
        f'[ "$POD_NAME" = victim ] && echo $$ > {pgid_file} && sleep 300; echo "done by $POD_NAME"',
    ]
    victim = providers.start("victim", "work", command, lease_seconds=5)
    apply(
        cluster,
        namespace,
        make_batchjob("kill", "work")
        .range(end=1)
        .spec(lease={"durationSeconds": 5}, retry={"maxAttempts": 3, "backoffSeconds": 0})
        .obj(),
    )
    running = wait_for(
        lambda: next(
            (t for t in job_tasks(cluster, namespace, "kill") if t.status.lease.holder == "victim"),
            None,
        ),
        timeout=60,
        what="the victim to hold the task",
    )
    orphan = int(
        wait_for(
            lambda: pgid_file.read_text().strip() if pgid_file.exists() else None,
            timeout=30,
            what="the victim's command to start",
        )
    )
    request.addfinalizer(lambda: _kill_group(orphan))
    victim.kill()
    providers.start("rescuer", "work", command, lease_seconds=5)
    name = running.metadata.name
    done = wait_task(
        cluster, namespace, name, "succeeded", lambda t: t.status.phase == "Succeeded", timeout=90
    )
    assert done.status.result is not None
    assert done.status.result.output == "done by rescuer\n"
    assert done.status.attempts == 1
    assert [(h.holder, h.outcome) for h in done.status.history] == [
        ("victim", "Expired"),
        ("rescuer", "Succeeded"),
    ]
    wait_for(lambda: job_phase(cluster, namespace, "kill") == "Succeeded", timeout=30, what="job")


def test_stopped_provider_is_fenced_off_after_reassignment(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    providers.start_operator()
    command = ["sh", "-c", '[ "$POD_NAME" = sleeper ] && sleep 12; echo "done by $POD_NAME"']
    sleeper = providers.start("sleeper", "work", command, lease_seconds=5)
    apply(
        cluster,
        namespace,
        make_batchjob("stop", "work")
        .range(end=1)
        .spec(lease={"durationSeconds": 5}, retry={"maxAttempts": 3, "backoffSeconds": 0})
        .obj(),
    )
    held = wait_for(
        lambda: next(
            (
                t
                for t in job_tasks(cluster, namespace, "stop")
                if t.status.lease.holder == "sleeper"
            ),
            None,
        ),
        timeout=60,
        what="the sleeper to hold the task",
    )
    name = held.metadata.name
    sleeper.signal(signal.SIGSTOP)
    try:
        providers.start("awake", "work", command, lease_seconds=5)
        done = wait_task(
            cluster, namespace, name, "rescued", lambda t: t.status.phase == "Succeeded", timeout=90
        )
    finally:
        sleeper.signal(signal.SIGCONT)
    wait_for(lambda: "abandoned" in sleeper.log_text(), timeout=30, what="the sleeper to give up")
    task = get_task(cluster, namespace, name)
    assert task.metadata.resource_version == done.metadata.resource_version  # no late write
    assert task.status.result is not None
    assert task.status.result.output == "done by awake\n"
    assert [(h.holder, h.outcome) for h in task.status.history] == [
        ("sleeper", "Expired"),
        ("awake", "Succeeded"),
    ]


def test_cancelled_job_terminates_running_work(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    providers.start_operator()
    providers.start("busy", "work", write_pid_command(tmp_path, 300), concurrency=3)
    apply(cluster, namespace, make_batchjob("doomed", "work").spec(range={"end": 3}).obj())
    names = wait_for(
        lambda: (
            lambda ts: (
                [t.metadata.name for t in ts]
                if len(ts) == 3 and all(t.status.phase == "Running" for t in ts)
                else None
            )
        )(job_tasks(cluster, namespace, "doomed")),
        timeout=60,
        what="three running tasks",
    )
    pids = wait_for(
        lambda: (lambda p: p if len(p) == 6 else None)(
            list(itertools.chain.from_iterable(recorded_pids(tmp_path, n) for n in names))
        ),
        timeout=30,
        what="the commands' pids",
    )
    cluster.kubectl(
        "patch", "batchjob", "doomed", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"cancel": True}}),
    )  # fmt: skip
    wait_for(
        lambda: not any(process_alive(pid) for pid in pids), timeout=30, what="the processes to go"
    )
    wait_for(
        lambda: all(t.status.phase == "Cancelled" for t in job_tasks(cluster, namespace, "doomed")),
        timeout=60,
        what="all tasks Cancelled",
    )
    wait_for(lambda: job_phase(cluster, namespace, "doomed") == "Cancelled", timeout=30, what="job")
