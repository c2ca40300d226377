"""Work that must stop: cancel, deletion, a lost lease, a paused provider, shutdown."""

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskmill.api import protocol
from taskmill.api.common import TaskPhase
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import (
    Providers,
    create,
    expire_lease,
    get_task,
    patch_status,
    process_alive,
    running_with_pids,
    task_manifest,
    wait_task,
    write_pid_command,
)

pytestmark = pytest.mark.integration


def wait_gone(pids: list[int], timeout: float = 20) -> None:
    wait_for(
        lambda: not any(process_alive(pid) for pid in pids),
        timeout=timeout,
        what=f"processes {pids} to be gone",
    )


def test_cancel_terminates_the_process_group_and_is_acknowledged(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    providers.start("cancel-1", "work", write_pid_command(tmp_path, 300), concurrency=2)
    create(cluster, namespace, task_manifest("c-0", "work"), task_manifest("c-1", "work", index=1))
    pids = running_with_pids(tmp_path, "c-0") + running_with_pids(tmp_path, "c-1")

    for name in ("c-0", "c-1"):
        cluster.kubectl(
            "patch", "task", name, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"cancel": True, "cancelReason": "JobCancelled"}}),
        )  # fmt: skip
    wait_gone(pids)
    for name in ("c-0", "c-1"):
        task = wait_task(
            cluster, namespace, name, "cancel acknowledged", lambda t: t.status.phase == "Held"
        )
        assert task.status.reason == "CancelAcknowledged"
        assert task.status.lease.holder == ""
        assert task.status.attempts == 0
        last = task.status.history[-1]
        assert (last.holder, last.outcome, last.reason) == ("cancel-1", "Cancelled", "JobCancelled")
        assert task.status.result is None


def test_deleting_a_task_stops_its_work_and_frees_the_slot(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    providers.start("delete-1", "work", write_pid_command(tmp_path, 300))
    create(cluster, namespace, task_manifest("d-0", "work"))
    pids = running_with_pids(tmp_path, "d-0")
    create(cluster, namespace, task_manifest("d-1", "work", index=1))
    cluster.kubectl("delete", "task", "d-0", "-n", namespace)
    wait_gone(pids)
    running_with_pids(tmp_path, "d-1")  # the freed slot takes the next task


def test_lost_lease_aborts_the_work_without_a_result(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    provider = providers.start(
        "fenced-1", "work", write_pid_command(tmp_path, 300), lease_seconds=6
    )
    create(cluster, namespace, task_manifest("f-0", "work", backoffSeconds=3600))
    pids = running_with_pids(tmp_path, "f-0")
    expired = expire_lease(cluster, namespace, "f-0")  # as the operator would
    assert (expired.status.phase, expired.status.reason) == ("Held", "Backoff")

    wait_gone(pids)
    assert "abandoned" in provider.log_text()
    task = get_task(cluster, namespace, "f-0")
    assert task.metadata.resource_version == expired.metadata.resource_version  # no later write
    assert task.status.result is None


def test_paused_provider_abandons_work_reassigned_meanwhile(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    paused = providers.start("paused-1", "work", write_pid_command(tmp_path, 8), lease_seconds=5)
    create(cluster, namespace, task_manifest("s-0", "work", backoffSeconds=0))
    pids = running_with_pids(tmp_path, "s-0")
    paused.signal(signal.SIGSTOP)
    try:
        expire_lease(cluster, namespace, "s-0")
        providers.start("rescuer-1", "work", ["echo", "rescued"])
        done = wait_task(
            cluster, namespace, "s-0", "rescued", lambda t: t.status.phase == "Succeeded"
        )
    finally:
        paused.signal(signal.SIGCONT)
    # Its work is stopped; its fenced release, if it sends one, is refused.
    wait_for(
        lambda: any(w in paused.log_text() for w in ("abandoned", "final write rejected")),
        timeout=30,
        what="the abandonment",
    )
    wait_gone(pids)

    task = get_task(cluster, namespace, "s-0")
    assert task.metadata.resource_version == done.metadata.resource_version
    assert task.status.result is not None
    assert task.status.result.output == "rescued\n"
    assert [(h.holder, h.outcome) for h in task.status.history] == [
        ("paused-1", "Expired"),
        ("rescuer-1", "Succeeded"),
    ]
    assert paused.proc.poll() is None  # it carries on serving


def test_graceful_shutdown_finishes_short_work_and_hands_back_the_rest(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    sleeper = [
        sys.executable,
        "-c",
        "import json, sys, time; time.sleep(json.load(sys.stdin)['s'])",
    ]
    leaving = providers.start(
        "leaving-1", "work", sleeper, concurrency=2, extra=["--grace-seconds", "6"]
    )
    create(
        cluster,
        namespace,
        task_manifest("g-short", "work", params={"s": 3}, priority=1),
        task_manifest("g-long", "work", index=1, params={"s": 300}),
    )
    wait_for(
        lambda: all(
            get_task(cluster, namespace, n).status.phase == TaskPhase.RUNNING
            for n in ("g-short", "g-long")
        ),
        timeout=30,
        what="both tasks running",
    )
    assert leaving.terminate() == 0

    short = get_task(cluster, namespace, "g-short")
    long = get_task(cluster, namespace, "g-long")
    assert short.status.phase == TaskPhase.SUCCEEDED
    assert (long.status.phase, long.status.attempts, long.status.lease.holder) == (
        TaskPhase.PENDING,
        0,
        "",
    )
    assert [(h.outcome, h.reason) for h in long.status.history] == [
        ("Released", "ProviderShutdown")
    ]
    leases = cluster.kubectl("get", "leases", "-n", namespace, "-o", "name").stdout
    assert "taskmill-provider-leaving-1" not in leases

    providers.start("arriving-1", "work", ["true"])
    taken = wait_task(
        cluster, namespace, "g-long", "taken over", lambda t: t.status.phase == "Succeeded"
    )
    assert taken.status.attempts == 0
    assert taken.status.history[-1].holder == "arriving-1"


def test_restarted_provider_releases_what_its_earlier_run_held(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    create(cluster, namespace, task_manifest("o-0", "work"))
    task = get_task(cluster, namespace, "o-0")
    # The lease an earlier process under the same pod name took and never finished.
    claim = protocol.claim(
        task,
        "reborn-1",
        ["work"],
        datetime.now(UTC),
        duration_seconds=300,
        renew_interval_seconds=100,
    )
    patch_status(cluster, namespace, "o-0", claim)

    providers.start("reborn-1", "work", ["echo", "again"])
    done = wait_task(
        cluster, namespace, "o-0", "run again", lambda t: t.status.phase == "Succeeded"
    )
    assert done.status.attempts == 0
    assert [(h.holder, h.outcome, h.reason) for h in done.status.history] == [
        ("reborn-1", "Released", "ProviderRestarted"),
        ("reborn-1", "Succeeded", "Completed"),
    ]
