"""Scale: one very large job (100,000 items; 10,000 with --quick) through 8x4 providers.

Sampled every few seconds while it runs: the operator's peak RSS (VmHWM from /proc),
the kube-apiserver's resident memory (VmRSS: its peak over the job, and the growth from
before the job to that peak; the API server lives for the whole bench, so its own VmHWM
would mix in earlier scenarios) and what it is made of: its Go heap in use and the
capacity of its watch cache for Tasks (the window of recent events it keeps, each with
a whole object), from its /metrics; the number of Task objects (a LIST with limit=1 reports
remainingItemCount) and of unfinished ones (a LIST with fieldSelector
status.phase!=Succeeded: the operator keeps at most --max-live-tasks of them per job,
whatever the job's size). `--scale-retention` sets the job's spec.retention.succeededTasks
(unset: the default, Auto, which deletes the Tasks of a job this large once recorded;
Keep shows the objects piling up, as they did before retention existed).
"""

import asyncio
import contextlib
import time
from typing import Any

import aiohttp

from bench.context import CAPABILITY, Bench
from bench.procs import Proc, resident_kib
from bench.stack import list_tasks, wait_job
from taskmill.kube import ApiError
from taskmill.kube.paths import BATCHJOBS, TASKS
from tests.builders import make_batchjob
from tests.harness.metrics import gauge

JOB = "scale"
SAMPLE_SECONDS = 3.0


async def _count(bench: Bench, namespace: str) -> int:
    page = await bench.kube.list_objects(TASKS.path(namespace), limit="1")
    return len(page.get("items", [])) + int(page.get("metadata", {}).get("remainingItemCount") or 0)


def _apiserver_rss_kib(bench: Bench) -> int:
    pid = bench.components.get("kube-apiserver")
    return resident_kib(pid) if pid is not None else 0


async def _apiserver_memory(bench: Bench) -> dict[str, int]:
    """The API server's Go heap in use and its next GC goal (KiB), and its watch cache's
    capacity for Tasks."""
    text = await asyncio.to_thread(bench.cluster.metrics)
    heap = gauge(text, "go_memstats_heap_inuse_bytes") or 0.0
    # The heap size that triggers the next collection: about twice what the last one
    # found live (GOGC=100), so half of it is the live heap.
    goal = gauge(text, "go_memstats_next_gc_bytes") or 0.0
    window = gauge(text, "watch_cache_capacity", group="taskmill.io", resource="tasks") or 0.0
    return {
        "apiserver_heap_kib": int(heap // 1024),
        "apiserver_gc_goal_kib": int(goal // 1024),
        "tasks_watch_cache": int(window),
    }


async def _sample(bench: Bench, namespace: str, operator: Proc, peaks: dict[str, int]) -> None:
    while True:
        operator.sample_rss()
        peaks["apiserver_rss_kib"] = max(peaks["apiserver_rss_kib"], _apiserver_rss_kib(bench))
        with contextlib.suppress(OSError):  # a scrape that fails skips one sample
            for key, value in (await _apiserver_memory(bench)).items():
                peaks[key] = max(peaks[key], value)
        # A list that times out on a loaded machine skips one sample, not the rest of them
        # (nor, raised at the end, the whole run).
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ApiError):
            unfinished = len(
                await list_tasks(bench.kube, namespace, fieldSelector="status.phase!=Succeeded")
            )
            peaks["unfinished"] = max(peaks["unfinished"], unfinished)
            peaks["objects"] = max(peaks["objects"], await _count(bench, namespace))
        await asyncio.sleep(SAMPLE_SECONDS)


async def scale(
    bench: Bench,
    items: int,
    providers: int = 8,
    slots: int = 4,
    retention: str | None = None,
    batch_size: int = 1,
) -> dict[str, Any]:
    namespace = await bench.namespace("scale")
    operator = bench.launcher.operator(namespace)
    fleet = bench.fleet(namespace, providers, slots)
    operator.wait_ready("loaded state")
    apiserver_before = _apiserver_rss_kib(bench)
    memory_before = await _apiserver_memory(bench)
    peaks = {"unfinished": 0, "objects": 0, "apiserver_rss_kib": apiserver_before, **memory_before}
    groups = {"operator": [operator], "providers": fleet}
    cpu_before = bench.cpu(groups)
    sampler = asyncio.create_task(_sample(bench, namespace, operator, peaks))
    last_report = [0.0]
    tasks = -(-items // batch_size)

    def progress(body: dict[str, Any]) -> None:
        if time.monotonic() - last_report[0] > 30:
            last_report[0] = time.monotonic()
            counts = body.get("status", {}).get("counts", {})
            bench.say(
                f"scale: {counts.get('succeeded', 0)}/{tasks} tasks succeeded, "
                f"operator peak RSS {operator.peak_rss_kib / 1024:.0f} MiB"
            )

    try:
        bench.say(f"scale: {items} items in {tasks} tasks, {providers} providers x {slots}")
        started = time.monotonic()
        spec: dict[str, Any] = {
            "range": {"start": 0, "end": items},
            "batchSize": batch_size,
            "retry": {"backoffSeconds": 0},
        }
        if retention is not None:
            spec["retention"] = {"succeededTasks": retention}
        await bench.kube.create(
            BATCHJOBS.path(namespace), make_batchjob(JOB, CAPABILITY).spec(**spec).obj()
        )
        job = await wait_job(
            bench.kube, namespace, JOB, within=600 + items * 0.1, poll=1.0, on_poll=progress
        )
        seconds = time.monotonic() - started
        operator.sample_rss()
        objects = await _count(bench, namespace)
        apiserver_end = _apiserver_rss_kib(bench)
        requests = operator.requests()
        cpu_after = bench.cpu(groups)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await bench.cleanup(namespace, [operator, *fleet])
    apiserver_peak = peaks["apiserver_rss_kib"]
    bench.say(
        f"scale: {job['status']['phase']} in {seconds:.0f}s; peak unfinished "
        f"{peaks['unfinished']}, Task objects at the end {objects}, operator peak RSS "
        f"{operator.peak_rss_kib / 1024:.0f} MiB, kube-apiserver RSS "
        f"{apiserver_before / 1024:.0f} -> peak {apiserver_peak / 1024:.0f} MiB (Go heap in use "
        f"{memory_before['apiserver_heap_kib'] / 1024:.0f} -> peak "
        f"{peaks['apiserver_heap_kib'] / 1024:.0f} MiB, GC goal up to "
        f"{peaks['apiserver_gc_goal_kib'] / 1024:.0f} MiB; watch cache for Tasks up to "
        f"{peaks['tasks_watch_cache']} events)"
    )
    cpu_ms = {k: (cpu_after[k] - cpu_before.get(k, 0.0)) * 1000 / tasks for k in cpu_after}
    return {
        "items": float(items),
        "tasks": float(tasks),
        "seconds": seconds,
        "items_per_s": items / seconds,
        "tasks_per_s": tasks / seconds,
        "peak_unfinished": float(peaks["unfinished"]),
        "peak_objects": float(peaks["objects"]),
        "objects_at_end": float(objects),
        "operator_peak_rss_mib": operator.peak_rss_kib / 1024,
        "apiserver_peak_rss_mib": apiserver_peak / 1024,
        "apiserver_rss_growth_mib": (apiserver_peak - apiserver_before) / 1024,
        "apiserver_end_rss_mib": apiserver_end / 1024,
        "apiserver_heap_before_mib": memory_before["apiserver_heap_kib"] / 1024,
        "apiserver_heap_peak_mib": peaks["apiserver_heap_kib"] / 1024,
        "apiserver_gc_goal_peak_mib": peaks["apiserver_gc_goal_kib"] / 1024,
        "tasks_watch_cache_peak": float(peaks["tasks_watch_cache"]),
        "operator_deletes_per_task": requests["DELETE tasks"] / tasks,
        "operator_requests_per_task": sum(requests.values()) / tasks,
        "apiserver_cpu_ms_per_task": cpu_ms.get("kube-apiserver", 0.0),
        "operator_cpu_ms_per_task": cpu_ms["operator"],
        "provider_own_cpu_ms_per_task": cpu_ms["providers (own)"],
        "detail": {
            "job_phase": job["status"]["phase"],
            "retention": retention or "Auto",
            "batch_size": batch_size,
            "operator_requests_per_task": {k: v / tasks for k, v in sorted(requests.items())},
            "cpu_ms_per_task": {k: round(v, 2) for k, v in sorted(cpu_ms.items())},
        },
    }
