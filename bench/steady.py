"""Steady state: long tasks running, nothing finishing; how many writes per second?

A fleet of providers runs one long task in every slot; once all run, the API server's
own request counts over a window give the writes per second, by resource. With
liveness per provider the running Tasks cost nothing: the writes are the presence
Lease renewals, about providers / renewal interval (plus the operator's leader Lease).

At scale (hundreds of providers) the providers run as fleets: bench.fleet hosts many
agents per process, each with its own identity, presence Lease, watches and client.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from taskmill.provider.config import DEFAULT_PENDING_WATCH
from taskmill.provider.lease_clock import LeaseTiming

from bench import fleet
from bench.context import CAPABILITY, Bench
from bench.procs import Proc, resident_kib
from bench.stack import list_tasks
from bench.throughput import WRITE_VERBS
from taskmill.kube import ApiError
from taskmill.kube.paths import BATCHJOBS
from tests.builders import make_batchjob
from tests.harness.metrics import diff, request_counts

JOB = "steady"
WAVE = 500  # tasks per job: the next job is created once the last one's all run
KILL_GRACE_SECONDS = 2  # the bench launcher's


@dataclass(frozen=True)
class Size:
    providers: int
    slots: int
    window: float  # seconds counted once every task runs
    per_process: int = 1  # provider agents per process (more than 1: bench.fleet)
    pending_watch: str = DEFAULT_PENDING_WATCH  # the providers' --pending-watch

    @property
    def tasks(self) -> int:
        return self.providers * self.slots

    @property
    def lease_seconds(self) -> int:
        """The providers' presence lease (renewed every third of it, near enough). A
        fleet's agents share one event loop per process: renewing every 20 s instead of
        5 keeps what is measured taskmill's writes rather than that loop's backlog."""
        return 15 if self.per_process == 1 else 60


def default_size(quick: bool) -> Size:
    return Size(10, 20, 20.0) if quick else Size(40, 25, 60.0)


async def steady(bench: Bench, size: Size) -> dict[str, Any]:
    namespace = await bench.namespace("steady")
    tasks = size.tasks
    operator = bench.launcher.operator(namespace)
    procs = _providers(bench, namespace, size)
    operator.wait_ready("loaded state")
    try:
        ramp_started = time.monotonic()
        await _ramp(bench, namespace, size)
        ramp = time.monotonic() - ramp_started
        bench.say(
            f"steady: {tasks} tasks running on {size.providers} providers in {len(procs)} "
            f"processes; counting {size.window:.0f}s"
        )
        before = request_counts(bench.cluster.metrics())
        cpu_before = bench.cpu({"providers": procs})
        started = time.monotonic()
        rss = await _apiserver_rss_while(bench, size.window)
        counted = diff(before, request_counts(bench.cluster.metrics()))
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in bench.cpu({"providers": procs}).items()}
        elapsed = time.monotonic() - started
        for proc in procs:
            proc.sample_rss()
    finally:
        await bench.cleanup(namespace, [operator, *procs])
    writes = {
        f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}": n / elapsed
        for (verb, resource, sub), n in counted.items()
        if verb in WRITE_VERBS and n
    }
    task_writes = sum(v for k, v in writes.items() if k.split()[1].startswith("tasks"))
    lease_writes = sum(v for k, v in writes.items() if k.split()[1] == "leases")
    # The interval the providers declare on their presence Leases (provider.presence).
    interval = LeaseTiming.of(size.lease_seconds, KILL_GRACE_SECONDS).interval
    expected = size.providers / interval
    apiserver_cpu = cpu.get("kube-apiserver", 0.0) / elapsed
    bench.say(
        f"steady: {task_writes:.2f} Task writes/s, {lease_writes:.2f} Lease writes/s "
        f"({size.providers} providers / {interval}s = {expected:.2f}/s expected); "
        f"apiserver {apiserver_cpu:.2f} CPU, RSS {rss / 1024:.0f} MiB"
    )
    return {
        "running_tasks": float(tasks),
        "ramp_s": ramp,  # from the first job's create to every task running
        "providers": float(size.providers),
        "provider_processes": float(len(procs)),
        "task_writes_per_s": task_writes,
        "task_writes_per_s_per_running_task": task_writes / tasks,
        "lease_writes_per_s": lease_writes,
        "expected_lease_writes_per_s": expected,
        "apiserver_cpu_cores": apiserver_cpu,
        "apiserver_peak_rss_mib": rss / 1024,
        "provider_cpu_cores": cpu.get("providers", 0.0) / elapsed,
        "provider_peak_rss_mib_per_provider": sum(p.peak_rss_kib for p in procs)
        / 1024
        / size.providers,
        "detail": {"writes_per_s": writes},
    }


def _providers(bench: Bench, namespace: str, size: Size) -> list[Proc]:
    """One process per provider, or fleets of `per_process` agents."""
    if size.per_process == 1:
        return bench.fleet(
            namespace,
            size.providers,
            size.slots,
            command=["sleep", "3600"],
            lease_seconds=size.lease_seconds,
            pending_watch=size.pending_watch,
        )
    procs = [
        fleet.start(
            bench.launcher,
            namespace,
            CAPABILITY,
            first,
            min(size.per_process, size.providers - first),
            size.slots,
            size.lease_seconds,
            size.pending_watch,
        )
        for first in range(0, size.providers, size.per_process)
    ]
    for proc in procs:
        proc.wait_ready(fleet.READY, timeout=300)
    return procs


async def _apiserver_rss_while(bench: Bench, seconds: float) -> int:
    """Wait `seconds`, sampling the kube-apiserver's resident memory; its peak, KiB."""
    pid = bench.components.get("kube-apiserver")
    peak = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if pid is not None:
            peak = max(peak, resident_kib(pid))
        await asyncio.sleep(min(2.0, left))
    return peak


async def _ramp(bench: Bench, namespace: str, size: Size) -> None:
    """Jobs of WAVE tasks, each created once the ones before all run: every provider
    watches every Task, so a single burst of thousands would measure the burst."""
    # A task lease at least as long as the presence lease binds to it (no renewals).
    lease = {"durationSeconds": size.lease_seconds * 2}
    for k, start in enumerate(range(0, size.tasks, WAVE)):
        end = min(size.tasks, start + WAVE)
        spec = {"range": {"start": start, "end": end}, "lease": lease}
        job = make_batchjob(f"{JOB}-{k}", CAPABILITY).spec(**spec).obj()
        await bench.kube.create(BATCHJOBS.path(namespace), job)
        await _all_running(bench, namespace, end, within=120 + (end - start) * 0.2)
        bench.say(f"steady: {end}/{size.tasks} tasks running")


async def _all_running(bench: Bench, namespace: str, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    running = 0
    while True:
        try:
            items = await list_tasks(bench.kube, namespace)
        except (TimeoutError, ApiError) as e:
            # A loaded API server may time a list out, or answer 504 while its watch
            # cache lags behind etcd: that is no verdict, look again.
            if isinstance(e, ApiError) and e.status not in (429, 500, 503, 504):
                raise
            bench.say(f"steady: listing the Tasks failed ({running} were running): {e}")
        else:
            running = sum(1 for t in items if t.get("status", {}).get("phase") == "Running")
        if running == count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"steady: {running}/{count} tasks running after {within:.0f}s")
        await asyncio.sleep(3.0)  # each look lists every Task
