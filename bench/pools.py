"""Pools: a ProviderPool from zero replicas, through a backlog, back to zero.

A Deployment at 0 replicas, a ProviderPool on it (concurrency 2, at most 4 providers,
no scale-down window so the mechanics are measured, not the window), and a job of
short tasks plus two long ones, so the pool shrinks while the long ones still run.
The deployment and replicaset controllers are real; each pod they create is backed by
a real provider process whose identity is the pod's name (stopped with SIGTERM when
its pod goes, as a kubelet would).

Measured: seconds from the job's creation to the first claim, and from the last
task's end to zero replicas; providers removed while holding a lease (must be 0) and
tasks that ran more than once.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.procs import Proc
from bench.stack import parse_time
from taskmill.kube.paths import BATCHJOBS, PODS, PROVIDERPOOLS, TASKS
from tests.builders import make_batchjob, make_provider_deployment

JOB = "pools"
APP = "bench-pool"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments"
SHORT, LONG = 16, 2
SLEEP = ["python3", "-c", "import json,sys,time; time.sleep(json.load(sys.stdin)['s'])"]


class Backer:
    """A provider process per live pod; its pod gone, the process gets SIGTERM."""

    def __init__(self, bench: Bench, namespace: str) -> None:
        self._bench = bench
        self._namespace = namespace
        self.procs: dict[str, Proc] = {}
        self.removed_busy = 0  # providers whose pod went while they held a lease
        self.removed = 0

    async def run(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(0.2)

    async def sync(self) -> None:
        pods = await self._bench.kube.list_objects(
            PODS.path(self._namespace), labelSelector=f"app={APP}"
        )
        alive = {
            p["metadata"]["name"]
            for p in pods["items"]
            if not p["metadata"].get("deletionTimestamp")
        }
        for name in alive - set(self.procs):
            self.procs[name] = self._bench.launcher.provider(
                self._namespace, name, CAPABILITY, SLEEP, concurrency=2, ready=False
            )
        gone = [n for n, p in self.procs.items() if n not in alive and p.alive()]
        if gone:
            held = await self._held()
            for name in gone:
                self.removed += 1
                self.removed_busy += held.get(name, 0) > 0
                await asyncio.to_thread(self.procs[name].stop)

    async def _held(self) -> dict[str, int]:
        tasks = await self._bench.kube.list_objects(TASKS.path(self._namespace))
        held: dict[str, int] = {}
        for t in tasks["items"]:
            status = t.get("status", {})
            if status.get("phase") in ("Leased", "Running"):
                holder = status["lease"]["holder"]
                held[holder] = held.get(holder, 0) + 1
        return held


def _pool() -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "ProviderPool",
        "metadata": {"name": APP},
        "spec": {
            "capabilities": [CAPABILITY],
            "concurrency": 2,
            "maxReplicas": 4,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "behavior": {"scaleDownStabilizationSeconds": 0},
        },
    }


async def pools(bench: Bench) -> dict[str, Any]:
    namespace = await bench.namespace("pools")
    kube = bench.kube
    deployments = DEPLOYMENTS.format(namespace=namespace)
    await kube.create(deployments, make_provider_deployment(APP, "taskmill:bench"))
    operator = bench.launcher.operator(namespace)
    operator.wait_ready("loaded state")
    await kube.create(PROVIDERPOOLS.path(namespace), _pool())
    backer = Backer(bench, namespace)
    backing = asyncio.create_task(backer.run(), name="backer")
    try:
        tasks = [{"name": f"s{i}", "params": {"s": 1}} for i in range(SHORT)]
        tasks += [{"name": f"l{i}", "params": {"s": 8}} for i in range(LONG)]
        created = await kube.create(
            BATCHJOBS.path(namespace), make_batchjob(JOB, CAPABILITY).spec(tasks=tasks).obj()
        )
        created_at = parse_time(created["metadata"]["creationTimestamp"])
        await _until(lambda: _succeeded(bench, namespace), 180, "the job")
        items = (await kube.list_objects(TASKS.path(namespace)))["items"]
        first_claim = min(parse_time(t["status"]["startTime"]) for t in items)
        last_end = max(parse_time(t["status"]["completionTime"]) for t in items)
        await _until(lambda: _scaled_to_zero(bench, deployments), 120, "zero replicas")
        at_zero = time.time()
        backing.cancel()
        await asyncio.gather(backing, return_exceptions=True)
        await backer.sync()  # the last removals
        restarted = sum(1 for t in items if len(t["status"].get("history", [])) > 1)
    finally:
        backing.cancel()
        await asyncio.gather(backing, return_exceptions=True)
        await bench.cleanup(namespace, [operator, *backer.procs.values()])
    result = {
        # creationTimestamp has whole seconds: up to 1 s of this is rounding
        "create_to_first_claim_s": first_claim - created_at,
        "last_end_to_zero_s": at_zero - last_end,
        "providers_started": float(len(backer.procs)),
        "providers_removed": float(backer.removed),
        "busy_providers_removed": float(backer.removed_busy),
        "tasks_restarted": float(restarted),
    }
    bench.say(f"pools: {result}")
    return result


async def _succeeded(bench: Bench, namespace: str) -> bool:
    job = await bench.kube.get(BATCHJOBS.path(namespace, JOB))
    return bool(job.get("status", {}).get("phase") == "Succeeded")


async def _scaled_to_zero(bench: Bench, deployments: str) -> bool:
    d = await bench.kube.get(f"{deployments}/{APP}")
    return d["spec"].get("replicas") == 0 and not d.get("status", {}).get("replicas")


async def _until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"pools: {what} not reached in {within:.0f}s")
        await asyncio.sleep(0.1)
