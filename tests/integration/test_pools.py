"""ProviderPools on the real deployment and replicaset controllers.

Each pod the ReplicaSet creates is backed by a real provider process whose identity is
the pod's name; kwok (when built: hack/build-control-plane.sh kwok) plays the kubelet of
the node the pods are bound to, so they are Running and Ready as in a cluster. Without
kwok they stay Pending, which the ReplicaSet's ranking also treats alike: either way
pod-deletion-cost decides which go. A pod that is being deleted gets its process
SIGTERMed, as a kubelet would.
"""

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders import make_provider_deployment
from tests.harness import kwok, procs
from tests.harness.cluster import Cluster
from tests.harness.metrics import diff, request_counts
from tests.harness.polling import wait_for
from tests.integration.provider.kit import ProviderProcess, Providers

CAPABILITY = "pool.sleep"
APP = "pool-providers"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


class PodBacker:
    """Starts a provider process for every pod of the Deployment and stops it when the
    pod is being deleted. A watch records every deletion cost a pod ever carried (the
    operator sets it just before the ReplicaSet deletes the pod)."""

    def __init__(self, providers: Providers, command: list[str], concurrency: int = 1) -> None:
        self._providers = providers
        self._command = command
        self._concurrency = concurrency
        self.processes: dict[str, ProviderProcess] = {}
        self.stopped: list[str] = []
        self.deletion_costs: dict[str, str] = {}  # as last seen on each pod
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PodBacker":
        cluster, namespace = self._providers.cluster, self._providers.namespace
        url = f"/api/v1/namespaces/{namespace}/pods?watch=1&labelSelector=app%3D{APP}"
        self._watch = subprocess.Popen(
            [str(cluster.bin_dir / "kubectl"), "get", "--raw", url],
            env=cluster.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._watcher = threading.Thread(target=self._record_costs, daemon=True)
        self._watcher.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join(10)
        self._watch.kill()
        self._watch.wait(10)
        self._watcher.join(10)

    def _record_costs(self) -> None:
        assert self._watch.stdout is not None
        for line in self._watch.stdout:
            meta = json.loads(line)["object"]["metadata"]
            cost = (meta.get("annotations") or {}).get(DELETION_COST)
            if cost is not None:
                self.deletion_costs[meta["name"]] = cost

    def _pods(self) -> dict[str, bool]:
        out = self._providers.cluster.kubectl(
            "get", "pods", "-n", self._providers.namespace, "-l", f"app={APP}", "-o", "json"
        ).stdout
        pods = json.loads(out)["items"]
        return {p["metadata"]["name"]: "deletionTimestamp" not in p["metadata"] for p in pods}

    def _run(self) -> None:
        while not self._halt.wait(0.3):
            pods = self._pods()
            for name, alive in pods.items():
                if alive and name not in self.processes:
                    self.processes[name] = self._providers.start(
                        name,
                        CAPABILITY,
                        self._command,
                        concurrency=self._concurrency,
                        lease_seconds=6,
                        wait_ready=False,
                    )
            for name, process in self.processes.items():
                if not pods.get(name) and name not in self.stopped:
                    self.stopped.append(name)
                    process.terminate()


def apply(cluster: Cluster, namespace: str, *manifests: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


@pytest.fixture(scope="module", name="node")
def kwok_node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The kwok node's name, or "" when kwok is not built (the pods then stay Pending)."""
    if not os.access(kwok.kwok_binary(), os.X_OK):
        yield ""
        return
    proc = kwok.start_kwok(cluster.kubeconfig, tmp_path_factory.mktemp("kwok"))
    cluster.kubectl("apply", "-f", "-", input=json.dumps(kwok.node_manifest()))
    try:
        yield kwok.NODE
    finally:
        procs.stop_group(proc.pid, procs.child_exited(proc))


def pool(max_replicas: int, concurrency: int = 1, **behavior: int) -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "ProviderPool",
        "metadata": {"name": "sleepers"},
        "spec": {
            "capabilities": [CAPABILITY],
            "concurrency": concurrency,
            "maxReplicas": max_replicas,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "behavior": {"scaleDownStabilizationSeconds": 0, **behavior},
        },
    }


def job(name: str, seconds: list[float]) -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name},
        "spec": {
            "capability": CAPABILITY,
            "tasks": [{"name": f"t{i}", "params": {"seconds": s}} for i, s in enumerate(seconds)],
            "lease": {"durationSeconds": 6},
        },
    }


def get(cluster: Cluster, namespace: str, *what: str) -> dict[str, Any]:
    out = cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout
    found: dict[str, Any] = json.loads(out)
    return found


def replicas(cluster: Cluster, namespace: str) -> int:
    return int(get(cluster, namespace, "deployment", APP)["spec"].get("replicas", 0))


TASKS = 60
SLEEP = ["python3", "-c", "import json,sys,time; time.sleep(json.load(sys.stdin)['seconds'])"]


@pytest.fixture
def backed(providers: Providers, namespace: str, node: str) -> Iterator[PodBacker]:
    apply(providers.cluster, namespace, make_provider_deployment(APP, "taskmill:test", node))
    providers.start_operator()
    with PodBacker(providers, SLEEP) as backer:
        yield backer


def succeeded(cluster: Cluster, namespace: str, name: str) -> bool:
    phase = get(cluster, namespace, "batchjob", name).get("status", {}).get("phase")
    return bool(phase == "Succeeded")


def test_pool_grows_with_the_backlog_and_returns_to_zero(
    backed: PodBacker, providers: Providers, namespace: str
) -> None:
    cluster = providers.cluster
    apply(cluster, namespace, pool(max_replicas=3))
    wait_for(
        lambda: _ready(cluster, namespace), timeout=30, what="the pool to be Ready at 0 replicas"
    )
    assert replicas(cluster, namespace) == 0

    apply(cluster, namespace, job("work", [2, 2, 2]))
    wait_for(lambda: replicas(cluster, namespace) == 3, timeout=30, what="3 replicas")
    wait_for(lambda: succeeded(cluster, namespace, "work"), timeout=60, what="the job")
    wait_for(lambda: replicas(cluster, namespace) == 0, timeout=30, what="0 replicas")

    tasks = get(cluster, namespace, "tasks")["items"]
    assert all(t["status"]["attempts"] == 0 for t in tasks)
    status = get(cluster, namespace, "providerpool", "sleepers")["status"]
    assert status["desired"] == 0
    assert "ScaledDown" in status["lastScaleReason"]
    reasons = {e["reason"] for e in get(cluster, namespace, "events.events.k8s.io")["items"]}
    assert {"ScaledUp", "ScaledDown"} <= reasons


def test_scale_down_during_work_removes_only_idle_providers(
    backed: PodBacker, providers: Providers, namespace: str, node: str
) -> None:
    cluster = providers.cluster
    apply(cluster, namespace, pool(max_replicas=2))
    apply(cluster, namespace, job("mixed", [0.5, 12]))
    wait_for(lambda: replicas(cluster, namespace) == 2, timeout=30, what="2 replicas")

    def long_task_holder() -> str:
        long = get(cluster, namespace, "task", "mixed-1")["status"]
        return str(long["lease"]["holder"]) if long["phase"] == "Running" else ""

    holder = wait_for(long_task_holder, timeout=30, what="the long task to run")
    wait_for(lambda: replicas(cluster, namespace) == 1, timeout=30, what="1 replica")

    # The idle provider was the one removed, chosen by its deletion cost.
    pods = get(cluster, namespace, "pods", "-l", f"app={APP}")["items"]
    if node:  # kwok runs them: the ReplicaSet ranks Running, Ready pods by cost
        assert {p["status"]["phase"] for p in pods} == {"Running"}
    remaining = [p["metadata"]["name"] for p in pods if "deletionTimestamp" not in p["metadata"]]
    assert remaining == [holder]
    stopped = wait_for(lambda: backed.stopped, timeout=10, what="the removed pod's provider")
    assert len(stopped) == 1
    assert stopped[0] != holder
    assert backed.deletion_costs == {stopped[0]: "-1000"}
    wait_for(lambda: succeeded(cluster, namespace, "mixed"), timeout=60, what="the job")
    long = get(cluster, namespace, "task", "mixed-1")["status"]
    assert long["attempts"] == 0
    assert [h["holder"] for h in long.get("history", [])] in ([], [holder])
    wait_for(lambda: replicas(cluster, namespace) == 0, timeout=30, what="0 replicas")


def test_a_killed_provider_whose_pod_remains_is_replaced_and_its_tasks_run_elsewhere(
    providers: Providers, namespace: str, node: str
) -> None:
    cluster = providers.cluster
    apply(cluster, namespace, make_provider_deployment(APP, "taskmill:test", node))
    providers.start_operator()
    with PodBacker(providers, SLEEP, concurrency=2) as backer:
        apply(cluster, namespace, pool(max_replicas=1, concurrency=2))
        apply(cluster, namespace, job("longer", [8, 8]))

        def both_running_on_one() -> str:
            tasks = get(cluster, namespace, "tasks")["items"]
            holders = {t["status"]["lease"]["holder"] for t in tasks}
            running = all(t["status"]["phase"] == "Running" for t in tasks)
            return holders.pop() if running and len(tasks) == 2 and len(holders) == 1 else ""

        victim = wait_for(both_running_on_one, timeout=30, what="both tasks running")
        backer.processes[victim].kill()  # SIGKILL: no hand-back, no presence retraction

        def replaced() -> list[str]:
            pods = get(cluster, namespace, "pods", "-l", f"app={APP}")["items"]
            return [p["metadata"]["name"] for p in pods if p["metadata"]["name"] != victim]

        wait_for(replaced, timeout=30, what="the pod to be replaced")
        wait_for(lambda: succeeded(cluster, namespace, "longer"), timeout=60, what="the job")

    for task in get(cluster, namespace, "tasks")["items"]:
        status = task["status"]
        assert status["lease"]["holder"] != victim
        lost = [h for h in status["history"] if h["holder"] == victim]
        assert [h["reason"] for h in lost] == ["ProviderLost"]
    reasons = {e["reason"] for e in get(cluster, namespace, "events.events.k8s.io")["items"]}
    assert "ProviderLost" in reasons
    wait_for(
        lambda: (
            f"taskmill-provider-{victim}"
            not in {x["metadata"]["name"] for x in get(cluster, namespace, "leases")["items"]}
        ),
        timeout=30,
        what="the lapsed presence Lease to be collected",
    )


def test_the_pool_loop_costs_requests_per_second_not_per_task(
    backed: PodBacker, providers: Providers, namespace: str
) -> None:
    cluster = providers.cluster
    apply(cluster, namespace, pool(max_replicas=2))
    wait_for(lambda: _ready(cluster, namespace), timeout=30, what="the pool to be Ready")
    before = request_counts(cluster.metrics())
    started = time.monotonic()
    apply(cluster, namespace, job("many", [0] * TASKS))
    wait_for(lambda: succeeded(cluster, namespace, "many"), timeout=90, what="the job")
    wait_for(lambda: replicas(cluster, namespace) == 0, timeout=30, what="0 replicas")
    elapsed = time.monotonic() - started
    calls = diff(before, request_counts(cluster.metrics()))
    print(f"\n{TASKS} tasks in {elapsed:.1f}s; the pool loop's requests:")
    for key in (("GET", "deployments", "scale"), ("PATCH", "deployments", "scale")):
        print(f"  {' '.join(key)}: {calls[key]}")
    print(f"  PATCH providerpools status: {calls[('PATCH', 'providerpools', 'status')]}")

    # One pass per interval (1 s) at most, each one GET of /scale and at most one status
    # write, whatever the number of Tasks.
    assert calls[("GET", "deployments", "scale")] <= elapsed + 2
    assert calls[("PATCH", "providerpools", "status")] <= elapsed + 2
    assert calls[("PATCH", "deployments", "scale")] <= 6  # up and down, in a few steps


def test_a_pool_that_cannot_be_scaled_is_not_ready_and_scales_nothing(
    providers: Providers, namespace: str, node: str
) -> None:
    cluster = providers.cluster
    apply(cluster, namespace, make_provider_deployment(APP, "taskmill:test", node))
    providers.start_operator()
    bad = pool(max_replicas=2)
    bad["spec"]["scaleTargetRef"] = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}
    apply(cluster, namespace, bad)
    why = wait_for(lambda: _not_ready(cluster, namespace, "sleepers"), timeout=30, what="Ready")
    assert why == "TargetNotScalable"

    # A second pool for the same capability: the older one keeps it. Creation times
    # have whole seconds, and a tie goes to the name first in order: "tardy" loses
    # also when both were made within one second.
    second = pool(max_replicas=2)
    second["metadata"]["name"] = "tardy"
    apply(cluster, namespace, second, job("waiting", [1]))
    why = wait_for(lambda: _not_ready(cluster, namespace, "tardy"), timeout=30, what="Ready")
    assert why == "OverlappingPools"
    assert replicas(cluster, namespace) == 0  # nothing scaled on a guess


def _not_ready(cluster: Cluster, namespace: str, name: str) -> str:
    """The Ready=False reason of a pool, if it has one."""
    status = get(cluster, namespace, "providerpool", name).get("status", {})
    for c in status.get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "False":
            return str(c["reason"])
    return ""


def test_min_above_max_is_refused_at_admission(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    bad = pool(max_replicas=1)
    bad["spec"]["minReplicas"] = 2
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": [bad]})
    done = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=body, check=False)
    assert done.returncode != 0
    assert "minReplicas must not exceed spec.maxReplicas" in done.stderr


def _ready(cluster: Cluster, namespace: str) -> bool:
    status = get(cluster, namespace, "providerpool", "sleepers").get("status", {})
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
