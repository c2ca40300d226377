"""Edges of the command contract on a real API server: big params, big results,
identities, what the command is told about its lease."""

import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from taskmill.api.common import TaskPhase
from taskmill.api.protocol import timestamp
from tests.harness.cluster import Cluster
from tests.integration.provider.kit import (
    Providers,
    create,
    get_task,
    process_alive,
    running_with_pids,
    task_manifest,
    wait_finished,
    write_pid_command,
)

pytestmark = pytest.mark.integration


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def presence_instance(cluster: Cluster, namespace: str, identity: str) -> str:
    out = cluster.kubectl(
        "get", "lease", f"taskmill-provider-{identity}", "-n", namespace, "-o", "json"
    ).stdout
    return str(json.loads(out)["metadata"]["annotations"]["taskmill.io/instance"])


def test_params_of_200_kb_reach_the_command(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    # Over Linux's 128 KiB limit for one environment string, well inside admission's.
    blob = "x" * 200_000
    providers.start(
        "big-1",
        "big",
        python(
            "import json, os, sys; p = json.load(sys.stdin);"
            "f = json.load(open(os.environ['TASKMILL_PARAMS_FILE']));"
            "print(len(p['item']), f == p)"
        ),
    )
    create(cluster, namespace, task_manifest("big-0", "big", params={"item": blob}, maxAttempts=1))
    done = wait_finished(cluster, namespace, "big-0")
    assert done.status.result is not None
    assert (done.status.phase, done.status.result.output) == (TaskPhase.SUCCEEDED, "200000 True\n")


def test_a_result_over_the_inline_limit_fails_the_attempt(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start(
        "large-1",
        "large",
        python(
            "import json, os; rows = [{'row': i, 'pad': 'p' * 40} for i in range(100)];"
            "json.dump({'output': rows}, open(os.environ['TASKMILL_RESULT'], 'w'))"
        ),
    )
    create(cluster, namespace, task_manifest("large-0", "large", maxAttempts=1))
    done = wait_finished(cluster, namespace, "large-0")
    assert done.status.result is not None
    assert (done.status.phase, done.status.result.reason) == (TaskPhase.FAILED, "ResultTooLarge")
    assert "inline limit" in done.status.result.message


def test_a_second_provider_with_the_same_identity_refuses_to_start(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    first = providers.start("twin", "twin", write_pid_command(tmp_path, 300), lease_seconds=5)
    create(cluster, namespace, task_manifest("twin-0", "twin"))
    pids = running_with_pids(tmp_path, "twin-0")
    instance = presence_instance(cluster, namespace, "twin")

    second = providers.start("twin", "twin", ["true"], lease_seconds=5, wait_ready=False)
    code = second.proc.wait(60)
    assert code == 3, second.log_text()
    assert "provider identity 'twin' is in use" in second.log_text()
    assert "POD_NAME" in second.log_text()

    # Nothing of the first one's was touched: its Lease, its task, its work.
    assert presence_instance(cluster, namespace, "twin") == instance
    task = get_task(cluster, namespace, "twin-0")
    assert (task.status.phase, task.status.lease.holder, task.status.lease.epoch) == (
        TaskPhase.RUNNING,
        "twin",
        1,
    )
    assert first.proc.poll() is None
    assert all(process_alive(pid) for pid in pids)


def test_the_command_is_told_its_lease_epoch_attempt_and_deadline(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start(
        "fence-1",
        "fence",
        python(
            "import os, sys; e = os.environ; attempt = int(e['TASKMILL_ATTEMPT']);"
            "print(e['TASKMILL_EPOCH'], attempt, e.get('TASKMILL_DEADLINE', 'none'));"
            "sys.exit(1 if attempt == 1 else 0)"
        ),
    )
    create(
        cluster,
        namespace,
        task_manifest("fence-0", "fence", maxAttempts=2, backoffSeconds=0, timeoutSeconds=600),
    )
    done = wait_finished(cluster, namespace, "fence-0")
    assert done.status.phase == TaskPhase.SUCCEEDED
    assert done.status.start_time is not None
    assert done.status.result is not None
    deadline = timestamp(done.status.start_time + timedelta(seconds=600))
    # The second attempt: the lease after the failed one's (epoch 1) and its release (2).
    assert done.status.result.output == f"3 2 {deadline}\n"
    assert [(h.epoch, h.outcome) for h in done.status.history] == [(1, "Failed"), (3, "Succeeded")]


def test_a_grandchild_holding_stdout_neither_holds_up_the_task_nor_costs_its_output(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild"
    grandchild = (
        f"import os, time; os.setsid(); open('{pid_file}', 'w').write(str(os.getpid()));"
        "time.sleep(300)"
    )
    script = (
        f'echo first; {sys.executable} -c "{grandchild}" &'
        f" while [ ! -s {pid_file} ]; do sleep 0.05; done; echo last"
    )
    providers.start("grand-1", "grand", ["sh", "-c", script])
    create(cluster, namespace, task_manifest("grand-0", "grand", maxAttempts=1))
    try:
        done = wait_finished(cluster, namespace, "grand-0")
        assert done.status.result is not None
        assert (done.status.phase, done.status.result.output) == (
            TaskPhase.SUCCEEDED,
            "first\nlast\n",
        )
        assert process_alive(int(pid_file.read_text()))  # reported while it still ran
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
