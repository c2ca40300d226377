"""The API server's own limit here: how many Task status JSON-patches per second it takes.

A tight asyncio client over taskmill.kube sends the same kind of write a
claim or a completion is (a JSON Patch of tasks/status with `test` ops that pass and
`add` ops that change the object, so every request is a real etcd write), from
several processes at once so the client is not what limits the rate.
"""

import asyncio
import itertools
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.stack import task_body
from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import TASKS

# A task's minimum writes: create, claim (straight into Running), complete.
MIN_WRITES_PER_TASK = 3


@dataclass(frozen=True)
class Load:
    objects: int = 256
    processes: int = 2
    concurrency: int = 32  # in flight per process
    seconds: float = 8.0


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
