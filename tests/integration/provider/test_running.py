"""A command provider against a real API server: presence, claiming, results."""

import asyncio
import json
import sys
import time

import pytest

from taskmill.api.common import TaskPhase
from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import TASKS
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers, create, get_task, task_manifest, wait_task

pytestmark = pytest.mark.integration

ECHO = [
    sys.executable,
    "-c",
    "import json, os, sys; p = json.load(sys.stdin); print('hello', p['who']);"
    "code = p.get('exit', 0);"
    "code or json.dump({'message': 'greeted', 'output': {'who': p['who']}},"
    " open(os.environ['TASKMILL_RESULT'], 'w'));"
    "sys.exit(code)",
]


def test_presence_lease(cluster: Cluster, namespace: str, providers: Providers) -> None:
    provider = providers.start("pres-1", "echo,resize", ["true"], concurrency=3)
    lease = json.loads(
        cluster.kubectl(
            "get", "lease", "taskmill-provider-pres-1", "-n", namespace, "-o", "json"
        ).stdout
    )
    assert lease["metadata"]["labels"] == {
        "taskmill.io/provider": "true",
        "capability.taskmill.io/echo": "true",
        "capability.taskmill.io/resize": "true",
    }
    annotations = lease["metadata"]["annotations"]
    assert annotations == {
        "taskmill.io/capabilities": "echo,resize",
        "taskmill.io/concurrency": "3",
        "taskmill.io/busy": "0",  # slots running a task, refreshed by every renewal
        "taskmill.io/drained": "false",  # answers a drain the operator asks for
        "taskmill.io/instance": annotations["taskmill.io/instance"],
        # how often it renews: the leases bound to it live by these renewals
        "taskmill.io/renew-interval-seconds": "5",
    }
    assert annotations["taskmill.io/instance"].startswith(f"{provider.pid}-")
    assert lease["spec"]["holderIdentity"] == "pres-1"
    assert lease["spec"]["leaseDurationSeconds"] == 15
    first_renewal: str = lease["spec"]["renewTime"]

    def renewed() -> bool:
        out = cluster.kubectl(
            "get", "lease", "taskmill-provider-pres-1", "-n", namespace,
            "-o", "jsonpath={.spec.renewTime}",
        ).stdout  # fmt: skip
        return out != first_renewal

    wait_for(renewed, timeout=15, what="a presence renewal")
    assert provider.terminate() == 0
    gone = cluster.kubectl("get", "lease", "-n", namespace, "-o", "name").stdout
    assert "taskmill-provider-pres-1" not in gone


def test_success_and_failure_are_reported(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start("run-1", "echo", ECHO, concurrency=2)
    create(
        cluster,
        namespace,
        task_manifest("ok", "echo", params={"who": "world"}),
        task_manifest("bad", "echo", index=1, params={"who": "x", "exit": 3}, maxAttempts=1),
        task_manifest("retry", "echo", index=2, params={"who": "y", "exit": 1}, backoffSeconds=0),
    )
    ok = wait_task(cluster, namespace, "ok", "succeeded", lambda t: t.status.phase == "Succeeded")
    assert ok.status.result is not None
    assert ok.status.result.exit_code == 0
    assert ok.status.result.message == "greeted"
    assert json.loads(ok.status.result.output) == {"who": "world"}
    assert ok.status.lease.holder == ""
    assert [(h.holder, h.outcome) for h in ok.status.history] == [("run-1", "Succeeded")]
    assert ok.status.start_time is not None
    assert ok.status.completion_time is not None

    bad = wait_task(cluster, namespace, "bad", "failed", lambda t: t.status.phase == "Failed")
    assert bad.status.result is not None
    assert (bad.status.result.exit_code, bad.status.result.reason) == (3, "NonZeroExit")
    assert bad.status.result.output == "hello x\n"
    assert bad.status.attempts == 1

    # Retried at once (no backoff) until maxAttempts (3) is used up.
    retry = wait_task(
        cluster, namespace, "retry", "fails 3 times", lambda t: t.status.phase == "Failed"
    )
    assert retry.status.attempts == 3
    assert [h.outcome for h in retry.status.history] == ["Failed"] * 3
    assert [h.epoch for h in retry.status.history] == [1, 3, 5]


def test_unserved_capabilities_are_never_claimed(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start("only-echo", "echo", ECHO)
    create(
        cluster,
        namespace,
        task_manifest("other", "resize", params={"who": "a"}),
        task_manifest("mine", "echo", index=1, params={"who": "b"}),
    )
    wait_task(cluster, namespace, "mine", "succeeded", lambda t: t.status.phase == "Succeeded")
    other = get_task(cluster, namespace, "other")
    assert (other.status.phase, other.status.lease.epoch) == (TaskPhase.PENDING, 0)


def test_claim_latency(cluster: Cluster, namespace: str, providers: Providers) -> None:
    """From a Task's creation to its claim by an idle provider (the watch is the signal)."""
    providers.start("fast-1", "echo", ["true"])
    kube_path = TASKS.path(namespace)

    async def create_one(name: str) -> float:
        async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
            before = time.time()
            await kube.create(kube_path, task_manifest(name, "echo"))
            return before

    latencies = []
    for i in range(10):
        name = f"lat-{i}"
        before = asyncio.run(create_one(name))
        task = wait_task(
            cluster, namespace, name, "succeeded", lambda t: t.status.phase == "Succeeded"
        )
        assert task.status.start_time is not None
        claimed = task.status.start_time.timestamp()
        assert claimed >= before
        latencies.append(claimed - before)
    print("\nclaim latency from create sent (ms):", [round(x * 1000) for x in latencies])
    assert sorted(latencies)[5] < 1.0
