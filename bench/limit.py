"""The API server's own limit here: how many Task status JSON-patches per second it takes.

A tight asyncio client over taskmill.kube sends the same kind of write a
claim or a completion is (a JSON Patch of tasks/status with `test` ops that pass and
`add` ops that change the object, so every request is a real etcd write), from
several processes at once so the client is not what limits the rate.

One short measurement is no yardstick on a shared machine: two 8 s probes on the same
machine gave 243/s and 403/s. So the Yardstick measures for longer and again around
every run it is the yardstick of (limit, run, limit, run, limit): each run is judged
against the limits measured just before and just after it, and the report shows the
spread of all of them beside every ratio.
"""

import asyncio
import itertools
import math
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.stack import task_body
from bench.stats import median
from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import TASKS

# A task's minimum writes: create, claim (straight into Running), complete.
MIN_WRITES_PER_TASK = 3


@dataclass(frozen=True)
class Load:
    objects: int = 256
    processes: int = 2
    concurrency: int = 32  # in flight per process
    seconds: float = 20.0


def patch_ops(n: int) -> list[dict[str, Any]]:
    return [
        {"op": "test", "path": "/status/lease/holder", "value": ""},
        {"op": "add", "path": "/status/reason", "value": f"bench-{n}"},
    ]


async def _hammer(
    kubeconfig: str, namespace: str, names: list[str], load: Load, offset: int
) -> tuple[int, float]:
    """Patch round-robin until the time is up; returns (writes, elapsed seconds)."""
    counter = itertools.count(offset)
    async with Kube(
        load_connection(kubeconfig), user_agent="taskmill-bench-limit", limit=load.concurrency
    ) as kube:
        # Warm the connection pool outside the measured window.
        await asyncio.gather(
            *(kube.get(TASKS.path(namespace, names[0])) for _ in range(load.concurrency))
        )
        deadline = time.monotonic() + load.seconds
        done = 0

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                n = next(counter)
                name = names[n % len(names)]
                await kube.json_patch(TASKS.path(namespace, name, "status"), patch_ops(n))
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(load.concurrency)))
        return done, time.monotonic() - started


def _process(args: tuple[str, str, list[str], Load, int]) -> tuple[int, float]:
    return asyncio.run(_hammer(*args))


async def limit(bench: Bench, load: Load) -> dict[str, Any]:
    namespace = await bench.namespace("limit")
    names = [f"raw-{i}" for i in range(load.objects)]
    sem = asyncio.Semaphore(32)

    async def create(i: int, name: str) -> None:
        async with sem:
            await bench.kube.create(TASKS.path(namespace), task_body(name, CAPABILITY, i))

    await asyncio.gather(*(create(i, n) for i, n in enumerate(names)))
    bench.say(
        f"limit: {load.processes} processes x {load.concurrency} in flight for {load.seconds:.0f}s"
    )
    kubeconfig = str(bench.cluster.kubeconfig)
    jobs = [(kubeconfig, namespace, names, load, p * 10**9) for p in range(load.processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(load.processes) as pool:
        cpu_before = bench.cpu({})
        results = await asyncio.get_running_loop().run_in_executor(None, pool.map, _process, jobs)
        cpu_after = bench.cpu({})
    writes = sum(w for w, _ in results)
    elapsed = max(e for _, e in results)
    await bench.cleanup(namespace, [])
    rate = writes / elapsed
    apiserver_ms = (cpu_after["kube-apiserver"] - cpu_before["kube-apiserver"]) * 1000 / writes
    bench.say(
        f"limit: {writes} status patches in {elapsed:.1f}s = {rate:.0f}/s "
        f"({apiserver_ms:.1f} ms of apiserver CPU each)"
    )
    return {"raw_writes_per_s": rate, "writes": writes, "apiserver_cpu_ms_per_write": apiserver_ms}


@dataclass
class Yardstick:
    """The limit, measured between the runs judged against it; shared by the scenarios
    of one bench invocation so that every sample counts toward the spread."""

    load: Load
    # A sample this recent serves as the next run's "before" (the last run's "after").
    reuse_seconds: float = 30.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    _last_end: float = -math.inf

    async def before(self, bench: Bench) -> float:
        """The limit just before a run: the last sample when it was just taken."""
        if time.monotonic() - self._last_end > self.reuse_seconds:
            await self._measure(bench)
        return float(self.samples[-1]["raw_writes_per_s"])

    async def after(self, bench: Bench) -> float:
        return await self._measure(bench)

    async def _measure(self, bench: Bench) -> float:
        sample = await limit(bench, self.load)
        self.samples.append(sample)
        self._last_end = time.monotonic()
        return float(sample["raw_writes_per_s"])

    def spread(self) -> dict[str, float]:
        """Every sample's raw rate: lowest, median, highest, and how many of how long."""
        rates = [float(s["raw_writes_per_s"]) for s in self.samples]
        return {
            "min": min(rates),
            "median": median(rates),
            "max": max(rates),
            "samples": len(rates),
            "seconds": self.load.seconds,
            "apiserver_cpu_ms_per_write": median(
                [float(s["apiserver_cpu_ms_per_write"]) for s in self.samples]
            ),
        }
