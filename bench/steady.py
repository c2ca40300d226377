"""Steady state: long tasks running, nothing finishing; how many writes per second?

A fleet of providers runs one long task in every slot; once all run, the API server's
own request counts over a window give the writes per second, by resource. With
liveness per provider the running Tasks cost nothing: the writes are the presence
Lease renewals, about providers / renewal interval (plus the operator's leader Lease).
"""

import asyncio
import time
from typing import Any

from taskmill.provider.lease_clock import LeaseTiming

from bench.context import CAPABILITY, Bench
from bench.stack import list_tasks
from bench.throughput import WRITE_VERBS
from taskmill.kube.paths import BATCHJOBS
from tests.builders import make_batchjob
from tests.harness.metrics import diff, request_counts

JOB = "steady"
LEASE_SECONDS = 15
KILL_GRACE_SECONDS = 2  # the bench launcher's


async def steady(bench: Bench, providers: int, slots: int, window: float) -> dict[str, Any]:
    namespace = await bench.namespace("steady")
    operator = bench.launcher.operator(namespace)
    fleet = bench.fleet(
        namespace, providers, slots, command=["sleep", "3600"], lease_seconds=LEASE_SECONDS
    )
    operator.wait_ready("loaded state")
    tasks = providers * slots
    try:
        spec = {"range": {"start": 0, "end": tasks}, "lease": {"durationSeconds": 30}}
        await bench.kube.create(
            BATCHJOBS.path(namespace), make_batchjob(JOB, CAPABILITY).spec(**spec).obj()
        )
        await _all_running(bench, namespace, tasks, within=120 + tasks * 0.2)
        bench.say(f"steady: {tasks} tasks running on {providers} providers; counting {window:.0f}s")
        before = request_counts(bench.cluster.metrics())
        started = time.monotonic()
        await asyncio.sleep(window)
        counted = diff(before, request_counts(bench.cluster.metrics()))
        elapsed = time.monotonic() - started
    finally:
        await bench.cleanup(namespace, [operator, *fleet])
    writes = {
        f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}": n / elapsed
        for (verb, resource, sub), n in counted.items()
        if verb in WRITE_VERBS and n
    }
    task_writes = sum(v for k, v in writes.items() if k.split()[1].startswith("tasks"))
    lease_writes = sum(v for k, v in writes.items() if k.split()[1] == "leases")
    # The interval the providers declare on their presence Leases (provider.presence).
    interval = _interval()
    bench.say(
        f"steady: {task_writes:.2f} Task writes/s, {lease_writes:.2f} Lease writes/s "
        f"({providers} providers / {interval}s = {providers / interval:.2f}/s expected)"
    )
    return {
        "running_tasks": float(tasks),
        "providers": float(providers),
        "task_writes_per_s": task_writes,
        "task_writes_per_s_per_running_task": task_writes / tasks,
        "lease_writes_per_s": lease_writes,
        "expected_lease_writes_per_s": providers / interval,
        "detail": {"writes_per_s": writes},
    }


def _interval() -> int:
    return LeaseTiming.of(LEASE_SECONDS, KILL_GRACE_SECONDS).interval


async def _all_running(bench: Bench, namespace: str, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        items = await list_tasks(bench.kube, namespace)
        running = sum(1 for t in items if t.get("status", {}).get("phase") == "Running")
        if running == count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"steady: {running}/{count} tasks running after {within:.0f}s")
        await asyncio.sleep(1.0)
