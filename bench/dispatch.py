"""Dispatch latency: from a Task becoming leasable to a provider holding it, providers idle.

Tasks are created one at a time, the way the operator creates them (no status, so the
schema defaults it to Pending: leasable at once). Two clocks, both from just before
the create request:
  - observed: when the bench's own watch delivers the first event showing the task
    held (the claim committed and was fanned out: an upper bound);
  - stamped: status.startTime, which the winning provider writes with acquireTime
    when it sends the claim (a lower bound: excludes the claim's round trip).
The next task is created only after the previous one finished, so every provider is
idle and watching when it appears.
"""

import asyncio
import contextlib
import time
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.stack import parse_time, task_body
from bench.stats import percentile
from taskmill.kube.paths import TASKS

HELD_PHASES = ("Leased", "Running", "Succeeded")
DONE_WITHIN = 30.0


class Observer:
    """Watches the namespace's Tasks and records when each was first seen held or done."""

    def __init__(self) -> None:
        self.held: dict[str, float] = {}
        self.done: dict[str, asyncio.Event] = {}

    async def run(self, bench: Bench, namespace: str) -> None:
        path = TASKS.path(namespace)
        listed = await bench.kube.list_objects(path)
        version = listed["metadata"]["resourceVersion"]
        while True:
            async for event in bench.kube.watch(path, resource_version=version):
                obj = event.object
                version = obj.get("metadata", {}).get("resourceVersion", version)
                self._see(obj, time.time())

    def _see(self, obj: dict[str, Any], now: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        phase = obj.get("status", {}).get("phase")
        if phase in HELD_PHASES:
            self.held.setdefault(name, now)
        if phase == "Succeeded":
            self.done.setdefault(name, asyncio.Event()).set()

    async def wait_done(self, name: str) -> None:
        async with asyncio.timeout(DONE_WITHIN):
            await self.done.setdefault(name, asyncio.Event()).wait()


async def dispatch(bench: Bench, samples: int, providers: int, slots: int) -> dict[str, Any]:
    namespace = await bench.namespace("dispatch")
    fleet = bench.fleet(namespace, providers, slots)
    observer = Observer()
    watching = asyncio.create_task(observer.run(bench, namespace))
    observed, stamped = [], []
    try:
        bench.say(f"dispatch: {samples} tasks one at a time, {providers} idle providers x {slots}")
        for i in range(samples):
            await asyncio.sleep(
                0.2 + bench.rng.random() * 0.2
            )  # let the last claim's events settle
            name = f"d-{i}"
            created = time.time()
            await bench.kube.create(TASKS.path(namespace), task_body(name, CAPABILITY, i))
            await observer.wait_done(name)
            body = await bench.kube.get(TASKS.path(namespace, name))
            observed.append((observer.held[name] - created) * 1000)
            # The lease (with acquireTime) is cleared on completion; startTime stays.
            stamped.append((parse_time(body["status"]["startTime"]) - created) * 1000)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await bench.cleanup(namespace, fleet)
    result = {
        "p50_ms": percentile(observed, 50),
        "p99_ms": percentile(observed, 99),
        "claim_sent_p50_ms": percentile(stamped, 50),
        "claim_sent_p99_ms": percentile(stamped, 99),
        "detail": {"observed_ms": observed, "claim_sent_ms": stamped},
    }
    bench.say(
        f"dispatch: observed p50 {result['p50_ms']:.0f} ms p99 {result['p99_ms']:.0f} ms; "
        f"claim sent p50 {result['claim_sent_p50_ms']:.0f} ms "
        f"p99 {result['claim_sent_p99_ms']:.0f} ms"
    )
    return result
