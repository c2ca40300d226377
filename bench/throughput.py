"""Throughput and cost: N no-op tasks through the operator and a fleet of providers.

Makespan runs from just before the BatchJob is created to the last Task's
completionTime (written by the provider, microseconds, same machine clock), with the
operator and every provider already up. Cost is the API server's own request count
over the same window (apiserver_request_total), less the bench's own calls, and the
split between operator and providers comes from their launchers' tallies.
"""

import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from taskmill.provider.config import DEFAULT_PENDING_WATCH, PendingWatch

from bench.context import CAPABILITY, Bench
from bench.limit import MIN_WRITES_PER_TASK, Yardstick
from bench.procs import Proc, requests_of, wait_quiet
from bench.stack import list_tasks, parse_time, rejected_status_patches, wait_job
from bench.stats import median
from taskmill.kube.paths import BATCHJOBS
from tests.builders import make_batchjob
from tests.harness.metrics import diff, gauge, request_counts

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
TASKMILL = ("tasks", "tasks/status", "batchjobs", "batchjobs/status")
JOB = "tput"
OPTIMISTIC_MIN_WRITES = 2  # create, then claim and result in one write
# What the optimistic run, and the run with --pending-watch all, report beside the
# normal one.
OTHER_FIGURES = (
    "tasks_per_s",
    "makespan_s",
    "limit_fraction",
    "writes_per_task",
    "task_writes_per_task",
    "rejected_status_patches_per_task",
    "succeeded",
    "apiserver_cpu_ms_per_task",
    "provider_own_cpu_ms_per_task",
    "task_watch_events_per_task",
    "task_watch_kib_per_task",
)
# The API server's count of Task watch events sent, to every watcher, and their bytes.
TASK_WATCH = {"group": "taskmill.io", "resource": "tasks"}


@dataclass(frozen=True)
class Shape:
    tasks: int = 2000
    providers: int = 8
    slots: int = 4


def key_text(verb: str, resource: str, sub: str) -> str:
    return f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}"


async def run_job(
    bench: Bench,
    namespace: str,
    tasks: int,
    operator: Proc,
    providers: list[Proc],
    *,
    optimistic: bool = False,
) -> dict[str, Any]:
    """Create the job, wait for it, and measure makespan, requests and Task watch events;
    the namespace is ready."""
    polls = 0

    def count_poll(_: dict[str, Any]) -> None:
        nonlocal polls
        polls += 1

    wait_quiet([operator, *providers])
    text = bench.cluster.metrics()
    before_server, before_rejected = request_counts(text), rejected_status_patches(text)
    before_watch = task_watch(text)
    before_operator, before_providers = operator.requests(), requests_of(providers)
    groups = {"operator": [operator], "providers": providers}
    cpu_before = bench.cpu(groups)
    started = time.time()
    # Kept Tasks: this measures the create-claim-complete path the limit is defined on,
    # and reads each Task's completion time at the end. A job this large deletes its
    # Tasks by default (spec.retention Auto), one more request each: the scale scenario
    # reports that cost ("operator DELETEs per task").
    spec = {
        "range": {"start": 0, "end": tasks},
        "retry": {"backoffSeconds": 0},
        "retention": {"succeededTasks": "Keep"},
    }
    if optimistic:  # run first, claim with the result: create + 1 write per task
        spec |= {"claim": "Optimistic", "timeoutSeconds": 30}
    await bench.kube.create(
        BATCHJOBS.path(namespace), make_batchjob(JOB, CAPABILITY).spec(**spec).obj()
    )
    timeout = 120 + tasks * 0.2
    job = await wait_job(bench.kube, namespace, JOB, within=timeout, poll=0.5, on_poll=count_poll)
    text = bench.cluster.metrics()
    server = diff(before_server, request_counts(text))
    rejected = rejected_status_patches(text) - before_rejected
    watch = [after - before for after, before in zip(task_watch(text), before_watch, strict=True)]
    cpu_after = bench.cpu(groups)
    by_operator = operator.requests() - before_operator
    by_providers = requests_of(providers) - before_providers
    # The bench's own calls in the window: one create, the polls, one /metrics read.
    server[("POST", "batchjobs", "")] -= 1
    server[("GET", "batchjobs", "")] -= polls
    server = +server
    items = await list_tasks(bench.kube, namespace)
    done = [
        parse_time(t["status"]["completionTime"])
        for t in items
        if t.get("status", {}).get("completionTime")
    ]
    makespan = max(done) - started if done else float("nan")
    return {
        "phase": job["status"]["phase"],
        "succeeded": sum(1 for t in items if t.get("status", {}).get("phase") == "Succeeded"),
        "makespan": makespan,
        "server": {key_text(*k): v for k, v in server.items()},
        "rejected": rejected,
        "task_watch": watch,  # events, bytes
        "cpu_s": {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after},
        "operator": by_operator,
        "providers": by_providers,
    }


def task_watch(text: str) -> tuple[float, float]:
    """Task watch events the API server sent so far, and their bytes."""
    return (
        gauge(text, "apiserver_watch_events_total", **TASK_WATCH) or 0.0,
        gauge(text, "apiserver_watch_events_sizes_sum", **TASK_WATCH) or 0.0,
    )


def cost_rows(
    server: dict[str, int], operator: Counter[str], providers: Counter[str], tasks: int
) -> list[dict[str, Any]]:
    """Requests per task by verb and resource, split between operator and providers.

    Only what taskmill sends or touches: the control plane's own background is left out.
    """
    rows = []
    ours = [k for k in server if k in operator or k in providers or k.split()[1] in TASKMILL]
    for key in sorted(ours, key=lambda k: -server[k]):
        rows.append(
            {
                "request": key,
                "total": server[key],
                "per_task": server[key] / tasks,
                "operator": operator.get(key, 0),
                "providers": providers.get(key, 0),
            }
        )
    return rows


async def throughput(bench: Bench, shape: Shape, yardstick: Yardstick) -> dict[str, Any]:
    """The job between two measurements of the API server's raw rate (bench.limit): the
    machine is shared, so the two are only comparable when measured back to back. The
    same job with spec.claim Optimistic runs between them too, reported beside the
    normal one under `optimistic_`, and the normal job with providers that watch every
    Pending Task (--pending-watch all, the default before 2026-12-02), under `all_`."""
    before = await yardstick.before(bench)
    normal = await _measure(bench, shape, optimistic=False)
    first = await _measure(bench, shape, optimistic=True)
    everyone = await _measure(bench, shape, optimistic=False, pending_watch=PendingWatch.ALL)
    raw = median([before, await yardstick.after(bench)])
    runs = (("Lease", normal), ("Optimistic", first), ("Lease, watching all", everyone))
    figures = {mode: _figures(shape, raw, result) for mode, result in runs}
    for mode, f in figures.items():
        bench.say(
            f"throughput ({mode}): {f['succeeded']}/{shape.tasks} succeeded in "
            f"{f['makespan_s']:.1f}s ({f['tasks_per_s']:.0f} tasks/s), "
            f"{f['writes_per_task']:.2f} writes/task; CPU s: {f['detail']['cpu_s']}"
        )
    optimistic = figures["Optimistic"]
    # Its own limit: the raw rate over the two writes an optimistic task needs.
    optimistic["limit_fraction"] = optimistic["tasks_per_s"] * OPTIMISTIC_MIN_WRITES / raw
    watched = figures["Lease, watching all"]
    return (
        figures["Lease"]
        | {f"optimistic_{k}": optimistic[k] for k in OTHER_FIGURES}
        | {f"all_{k}": watched[k] for k in OTHER_FIGURES}
    )


async def _measure(
    bench: Bench, shape: Shape, *, optimistic: bool, pending_watch: str = DEFAULT_PENDING_WATCH
) -> dict[str, Any]:
    name = "tput-first" if optimistic else f"tput-{pending_watch}"
    namespace = await bench.namespace(name)
    operator = bench.launcher.operator(namespace)
    providers = bench.fleet(namespace, shape.providers, shape.slots, pending_watch=pending_watch)
    operator.wait_ready("loaded state")
    mode = "Optimistic" if optimistic else "Lease"
    try:
        bench.say(
            f"throughput: {shape.tasks} tasks ({mode}, --pending-watch {pending_watch}), "
            f"{shape.providers} providers x {shape.slots}"
        )
        result = await run_job(
            bench, namespace, shape.tasks, operator, providers, optimistic=optimistic
        )
    finally:
        await bench.cleanup(namespace, [operator, *providers])
    result["peak_rss_kib"] = operator.peak_rss_kib
    return result


def _figures(shape: Shape, raw: float, result: dict[str, Any]) -> dict[str, Any]:
    op_requests, prov_requests = result["operator"], result["providers"]
    server: dict[str, int] = result["server"]
    # Requests by the operator and the providers: the server's totals also hold the
    # control plane's own background (its lease renewals, kcm's watch restarts).
    ours = op_requests + prov_requests
    writes = sum(v for k, v in ours.items() if k.split()[0] in WRITE_VERBS)
    task_writes = sum(
        v
        for k, v in server.items()
        if k.split()[0] in WRITE_VERBS and k.split()[1].startswith("tasks")
    )
    lists = sum(v for k, v in ours.items() if k.startswith("LIST "))
    tasks_per_s = shape.tasks / result["makespan"]
    apiserver_ms = result["cpu_s"].get("kube-apiserver", 0.0) * 1000 / shape.tasks
    providers_ms = result["cpu_s"].get("providers", 0.0) * 1000 / shape.tasks
    providers_own_ms = result["cpu_s"].get("providers (own)", 0.0) * 1000 / shape.tasks
    events, sent = result["task_watch"]
    # Every process of the run, commands included (an "(own)" entry is part of another).
    cpu_ms = sum(v for k, v in result["cpu_s"].items() if not k.endswith("(own)"))
    cpu_ms_per_task = cpu_ms * 1000 / shape.tasks
    cores = os.cpu_count() or 1
    return {
        "raw_writes_per_s": raw,  # the limits just before and after this run
        "limit_fraction": tasks_per_s * MIN_WRITES_PER_TASK / raw,
        "apiserver_cpu_ms_per_task": apiserver_ms,
        # all providers together, the commands they ran included
        "provider_cpu_ms_per_task": providers_ms,
        "provider_own_cpu_ms_per_task": providers_own_ms,  # without the commands
        "cpu_ms_per_task": cpu_ms_per_task,
        "machine_busy": cpu_ms_per_task * tasks_per_s / 1000 / cores,
        # Where the API server shares the cores with everything else, as here, the
        # fraction of the limit cannot pass what the cores allow at this CPU per task.
        "cpu_bound_fraction": cores * 1000 / cpu_ms_per_task * MIN_WRITES_PER_TASK / raw,
        "tasks_per_s": tasks_per_s,
        "makespan_s": result["makespan"],
        "succeeded": result["succeeded"],
        "writes_per_task": writes / shape.tasks,
        "rejected_status_patches_per_task": result["rejected"] / shape.tasks,
        "task_writes_per_task": task_writes / shape.tasks,
        "task_watch_events_per_task": events / shape.tasks,  # to every watcher together
        "task_watch_kib_per_task": sent / 1024 / shape.tasks,
        "lists": lists,
        "lists_per_task": lists / shape.tasks,
        "operator_peak_rss_mib": result["peak_rss_kib"] / 1024,
        "detail": {
            "cost": cost_rows(server, op_requests, prov_requests, shape.tasks),
            "cpu_s": result["cpu_s"],
            "operator_requests": dict(op_requests),
            "provider_requests": dict(prov_requests),
        },
    }
