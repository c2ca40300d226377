"""The results table (medians of the runs, against the targets) and the JSON record."""

import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.limit import MIN_WRITES_PER_TASK
from bench.stats import median

Medians = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Row:
    scenario: str
    label: str
    value: Callable[[Medians], float]
    fmt: str
    target: str = ""
    ok: Callable[[float, Medians], bool] | None = None
    # shown beside the value: how far it moves over the limit's spread (bench.limit)
    spread: Callable[[Medians], str] | None = None


def _get(scenario: str, key: str) -> Callable[[Medians], float]:
    return lambda m: m.get(scenario, {}).get(key, math.nan)


def _peer_ratio(key: str) -> Callable[[Medians], float]:
    def ratio(m: Medians) -> float:
        peer = m.get("peer", {})
        return peer.get(key, math.nan) / peer.get("job_items_per_s", math.nan)

    return ratio


def _limit_spread(per_write: float = 1.0) -> Callable[[Medians], str]:
    """The lowest and highest limit measured, and how many samples of how long."""

    def spread(m: Medians) -> str:
        limit = m.get("limit", {})
        if not limit:
            return ""
        low, high = limit["min"] / per_write, limit["max"] / per_write
        return f"{low:.0f}-{high:.0f} over {limit['samples']:.0f} x {limit['seconds']:.0f} s"

    return spread


def _fraction_spread(m: Medians) -> str:
    """The fraction against the highest and the lowest limit measured."""
    limit, tasks_per_s = m.get("limit", {}), m.get("throughput", {}).get("tasks_per_s")
    if not limit or tasks_per_s is None:
        return ""
    writes = tasks_per_s * MIN_WRITES_PER_TASK
    return f"{writes / limit['max']:.2f}-{writes / limit['min']:.2f} over the limit's spread"


ROWS = [
    Row(
        "limit",
        "API server raw status patches/s (median of the samples)",
        _get("limit", "median"),
        "{:.0f}",
        spread=_limit_spread(),
    ),
    Row(
        "limit",
        "limit = raw / 3 writes per task (tasks/s)",
        lambda m: _get("limit", "median")(m) / MIN_WRITES_PER_TASK,
        "{:.0f}",
        spread=_limit_spread(MIN_WRITES_PER_TASK),
    ),
    Row(
        "limit",
        "apiserver CPU ms per raw write",
        _get("limit", "apiserver_cpu_ms_per_write"),
        "{:.1f}",
    ),
    Row(
        "status",
        "objects normalized/s (10,000 mixed, 3 layers)",
        _get("status", "objects_per_s"),
        "{:.0f}",
    ),
    Row(
        "views",
        "kubectl taskmill status -A, 5,000 workloads (s)",
        _get("views", "status_seconds"),
        "{:.2f}",
        "< 2",
        lambda v, _: v < 2.0,
    ),
    Row(
        "views",
        "UI first page, just started (s)",
        _get("views", "ui_first_page_cold_seconds"),
        "{:.2f}",
        "< 1",
        lambda v, _: v < 1.0,
    ),
    Row("views", "UI first page, warm (s)", _get("views", "ui_first_page_warm_seconds"), "{:.2f}"),
    Row("throughput", "tasks/s (2,000 no-op, 8x4)", _get("throughput", "tasks_per_s"), "{:.1f}"),
    Row("throughput", "makespan s", _get("throughput", "makespan_s"), "{:.1f}"),
    Row(
        "throughput",
        "fraction of the limit (tasks/s x 3 / raw before and after)",
        _get("throughput", "limit_fraction"),
        "{:.2f}",
        ">= 0.50",
        lambda v, _: v >= 0.5,
        _fraction_spread,
    ),
    Row(
        "throughput",
        "CPU ms per task, every process (control plane, operator, providers, commands)",
        _get("throughput", "cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "throughput",
        "machine CPU busy over the job (share of all cores)",
        _get("throughput", "machine_busy"),
        "{:.2f}",
    ),
    Row(
        "throughput",
        "fraction of the limit the cores allow at that CPU per task",
        _get("throughput", "cpu_bound_fraction"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "rejected status patches per task (lost claims)",
        _get("throughput", "rejected_status_patches_per_task"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "apiserver CPU ms per task",
        _get("throughput", "apiserver_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "writes per task (all resources)",
        _get("throughput", "writes_per_task"),
        "{:.2f}",
        "<= 3.5",
        lambda v, _: v <= 3.5,
    ),
    Row("cost", "Task writes per task", _get("throughput", "task_writes_per_task"), "{:.2f}"),
    Row(
        "throughput",
        "tasks/s, spec.claim Optimistic (same job)",
        _get("throughput", "optimistic_tasks_per_s"),
        "{:.1f}",
    ),
    Row(
        "throughput",
        "fraction of the limit, Optimistic (tasks/s x 2 / raw)",
        _get("throughput", "optimistic_limit_fraction"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "writes per task, Optimistic (all resources)",
        _get("throughput", "optimistic_writes_per_task"),
        "{:.2f}",
        "<= 2.1",
        lambda v, _: v <= 2.1,
    ),
    Row(
        "cost",
        "Task writes per task, Optimistic",
        _get("throughput", "optimistic_task_writes_per_task"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "rejected status patches per task, Optimistic (lost races)",
        _get("throughput", "optimistic_rejected_status_patches_per_task"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "provider CPU ms per task (all providers, commands included)",
        _get("throughput", "provider_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "provider CPU ms per task (the provider processes alone)",
        _get("throughput", "provider_own_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "Task watch events sent per task (to every watcher)",
        _get("throughput", "task_watch_events_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "Task watch KiB sent per task",
        _get("throughput", "task_watch_kib_per_task"),
        "{:.1f}",
    ),
    Row(
        "throughput",
        "tasks/s, --pending-watch all (same job)",
        _get("throughput", "all_tasks_per_s"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "writes per task, --pending-watch all",
        _get("throughput", "all_writes_per_task"),
        "{:.2f}",
        "<= 3.1",
        lambda v, _: v <= 3.1,
    ),
    Row(
        "cost",
        "rejected status patches per task, --pending-watch all",
        _get("throughput", "all_rejected_status_patches_per_task"),
        "{:.2f}",
    ),
    Row(
        "cost",
        "Task watch events sent per task, --pending-watch all",
        _get("throughput", "all_task_watch_events_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "apiserver CPU ms per task, --pending-watch all",
        _get("throughput", "all_apiserver_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "cost",
        "provider CPU ms per task (processes alone), --pending-watch all",
        _get("throughput", "all_provider_own_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row(
        "steady",
        "Task writes/s per running task",
        _get("steady", "task_writes_per_s_per_running_task"),
        "{:.4f}",
        "~ 0",
        lambda v, _: v < 0.01,
    ),
    Row("steady", "running tasks", _get("steady", "running_tasks"), "{:.0f}"),
    Row("steady", "Lease writes/s", _get("steady", "lease_writes_per_s"), "{:.2f}"),
    Row(
        "steady",
        "providers / renewal interval (Lease writes/s expected)",
        _get("steady", "expected_lease_writes_per_s"),
        "{:.2f}",
    ),
    Row("steady", "providers", _get("steady", "providers"), "{:.0f}"),
    Row("steady", "provider processes", _get("steady", "provider_processes"), "{:.0f}"),
    Row("steady", "apiserver CPU (cores busy)", _get("steady", "apiserver_cpu_cores"), "{:.2f}"),
    Row("steady", "apiserver peak RSS MiB", _get("steady", "apiserver_peak_rss_mib"), "{:.0f}"),
    Row(
        "cost",
        "LIST requests in the run",
        _get("throughput", "lists"),
        "{:.0f}",
        "O(1), not per task",
        lambda v, _: v < 50,
    ),
    Row("dispatch", "p50 ms (watch-observed)", _get("dispatch", "p50_ms"), "{:.0f}"),
    Row(
        "dispatch",
        "p99 ms (watch-observed)",
        _get("dispatch", "p99_ms"),
        "{:.0f}",
        "< 250",
        lambda v, _: v < 250,
    ),
    Row("dispatch", "p99 ms (claim sent)", _get("dispatch", "claim_sent_p99_ms"), "{:.0f}"),
    Row(
        "metrics",
        "operator CPU ms/task, metrics off",
        _get("metrics", "operator_cpu_ms_per_task_off"),
        "{:.2f}",
    ),
    Row(
        "metrics",
        "operator CPU ms/task, metrics on and scraped 1/s",
        _get("metrics", "operator_cpu_ms_per_task_on"),
        "{:.2f}",
    ),
    Row(
        "metrics",
        "on / off",
        _get("metrics", "on_off_ratio"),
        "{:.3f}",
        "<= 1.05",
        lambda v, _: v <= 1.05,
    ),
    Row(
        "failover",
        "s until it runs elsewhere, default grace",
        _get("failover", "failover_s"),
        "{:.1f}",
        "<= lease + 2",
        lambda v, m: v <= _get("failover", "lease_s")(m) + 2,
    ),
    Row(
        "failover",
        "s until it runs elsewhere, operator grace 1 s",
        _get("failover", "failover_grace1_s"),
        "{:.1f}",
        "<= lease + 2",
        lambda v, m: v <= _get("failover", "lease_s")(m) + 2,
    ),
    Row(
        "failover",
        "s from the last presence renewal, default grace",
        _get("failover", "from_renewal_s"),
        "{:.1f}",
        "<= lease + 2",
        lambda v, m: v <= _get("failover", "lease_s")(m) + 2,
    ),
    Row("failover", "presence lease duration s", _get("failover", "lease_s"), "{:.0f}"),
    Row(
        "pools",
        "s from job creation to first claim, 0 replicas",
        _get("pools", "create_to_first_claim_s"),
        "{:.1f}",
    ),
    Row(
        "pools",
        "s from last task end to 0 replicas",
        _get("pools", "last_end_to_zero_s"),
        "{:.1f}",
    ),
    Row(
        "pools",
        "busy providers removed by scaling",
        _get("pools", "busy_providers_removed"),
        "{:.0f}",
        "0",
        lambda v, _: v == 0,
    ),
    Row("pools", "providers removed by scaling", _get("pools", "providers_removed"), "{:.0f}"),
    Row(
        "pools",
        "tasks run more than once",
        _get("pools", "tasks_restarted"),
        "{:.0f}",
        "0",
        lambda v, _: v == 0,
    ),
    Row("scale", "items", _get("scale", "items"), "{:.0f}"),
    Row("scale", "tasks", _get("scale", "tasks"), "{:.0f}"),
    Row("scale", "time s", _get("scale", "seconds"), "{:.0f}"),
    Row("scale", "tasks/s", _get("scale", "tasks_per_s"), "{:.1f}"),
    Row("scale", "peak unfinished Task objects", _get("scale", "peak_unfinished"), "{:.0f}"),
    Row("scale", "peak Task objects", _get("scale", "peak_objects"), "{:.0f}"),
    Row("scale", "operator DELETEs per task", _get("scale", "operator_deletes_per_task"), "{:.2f}"),
    Row(
        "scale", "operator requests per task", _get("scale", "operator_requests_per_task"), "{:.2f}"
    ),
    Row("scale", "Task objects at the end", _get("scale", "objects_at_end"), "{:.0f}"),
    Row("scale", "apiserver CPU ms per task", _get("scale", "apiserver_cpu_ms_per_task"), "{:.1f}"),
    Row("scale", "operator CPU ms per task", _get("scale", "operator_cpu_ms_per_task"), "{:.1f}"),
    Row(
        "scale",
        "provider CPU ms per task (own)",
        _get("scale", "provider_own_cpu_ms_per_task"),
        "{:.1f}",
    ),
    Row("scale", "operator peak RSS MiB", _get("scale", "operator_peak_rss_mib"), "{:.0f}"),
    Row("scale", "apiserver peak RSS MiB", _get("scale", "apiserver_peak_rss_mib"), "{:.0f}"),
    Row(
        "scale",
        "apiserver RSS growth MiB",
        _get("scale", "apiserver_rss_growth_mib"),
        "{:.0f}",
        "< 500",
        lambda v, _: v < 500,
    ),
    Row(
        "scale",
        "apiserver Go heap in use MiB, before the job",
        _get("scale", "apiserver_heap_before_mib"),
        "{:.0f}",
    ),
    Row(
        "scale",
        "apiserver Go heap in use MiB, peak",
        _get("scale", "apiserver_heap_peak_mib"),
        "{:.0f}",
    ),
    Row(
        "scale",
        "apiserver Go GC goal MiB, peak (about twice the live heap)",
        _get("scale", "apiserver_gc_goal_peak_mib"),
        "{:.0f}",
    ),
    Row(
        "scale",
        "apiserver watch-cache capacity for Tasks (events), peak",
        _get("scale", "tasks_watch_cache_peak"),
        "{:.0f}",
    ),
    Row("peer", "taskmill makespan s (1,000 items)", _get("peer", "taskmill_makespan_s"), "{:.1f}"),
    Row("peer", "Indexed Job makespan s (1,000 items)", _get("peer", "job_makespan_s"), "{:.1f}"),
    Row("peer", "Indexed Job API writes per item", _get("peer", "job_writes_per_item"), "{:.1f}"),
    Row(
        "peer",
        "taskmill / Indexed Job throughput",
        _peer_ratio("taskmill_items_per_s"),
        "{:.1f}x",
        ">= 3x",
        lambda v, _: v >= 3,
    ),
    Row(
        "peer",
        "taskmill makespan s, spec.claim Optimistic",
        _get("peer", "taskmill_optimistic_makespan_s"),
        "{:.1f}",
    ),
    Row(
        "peer",
        "taskmill Optimistic / Indexed Job",
        _peer_ratio("taskmill_optimistic_items_per_s"),
        "{:.1f}x",
    ),
    Row(
        "peer",
        "taskmill makespan s, batchSize 10",
        _get("peer", "taskmill_batched_makespan_s"),
        "{:.1f}",
    ),
    Row(
        "peer",
        "taskmill batchSize 10 / Indexed Job",
        _peer_ratio("taskmill_batched_items_per_s"),
        "{:.1f}x",
        ">= 3x",
        lambda v, _: v >= 3,
    ),
    Row(
        "chaos",
        "lost tasks (sum over seeds)",
        _get("chaos", "lost_sum"),
        "{:.0f}",
        "0",
        lambda v, _: v == 0,
    ),
    Row(
        "chaos",
        "duplicate accepted results",
        _get("chaos", "duplicates_sum"),
        "{:.0f}",
        "0",
        lambda v, _: v == 0,
    ),
    Row("chaos", "makespan s (1,000 tasks, faults)", _get("chaos", "makespan_s"), "{:.1f}"),
    Row("files", "MiB in and out per task (200 tasks)", _get("files", "file_mib"), "{:.0f}"),
    Row("files", "raw client MB/s", _get("files", "raw_mb_per_s"), "{:.0f}"),
    Row("files", "job MB/s (same bytes, through tasks)", _get("files", "job_mb_per_s"), "{:.0f}"),
    Row(
        "files",
        "job / raw",
        _get("files", "job_fraction_of_raw"),
        "{:.0%}",
        ">= 80%",
        lambda v, _: v >= 0.8,
    ),
    Row("files", "CPU ms per task, raw client", _get("files", "raw_cpu_ms_per_task"), "{:.0f}"),
    Row("files", "CPU ms per task, job", _get("files", "job_cpu_ms_per_task"), "{:.0f}"),
    Row(
        "files",
        "raw CPU / job CPU (the most job / raw can be when CPU-bound)",
        _get("files", "cpu_bound_fraction"),
        "{:.0%}",
    ),
    Row(
        "files",
        "provider peak RSS MiB, 4 MiB files",
        _get("files", "provider_peak_rss_mib_small"),
        "{:.0f}",
    ),
    Row(
        "files",
        "provider peak RSS MiB, after the big file",
        _get("files", "provider_peak_rss_mib_big"),
        "{:.0f}",
        "~ the 4 MiB one",
        lambda v, m: v <= m.get("files", {}).get("provider_peak_rss_mib_small", 0) + 64,
    ),
]


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = {k for run in runs for k, v in run.items() if isinstance(v, int | float)}
    return {
        k: median([float(run[k]) for run in runs if isinstance(run.get(k), int | float)])
        for k in sorted(keys)
    }


def table(m: Medians, skipped: dict[str, str]) -> tuple[list[dict[str, str]], str]:
    rows: list[dict[str, str]] = []
    for row in ROWS:
        if row.scenario in skipped:
            continue
        value = row.value(m)
        if math.isnan(value):
            continue
        verdict = "" if row.ok is None else ("ok" if row.ok(value, m) else "MISS")
        spread = "" if row.spread is None else row.spread(m)
        rows.append(
            {
                "scenario": row.scenario,
                "metric": row.label,
                "value": row.fmt.format(value) + (f" ({spread})" if spread else ""),
                "target": row.target,
                "verdict": verdict,
            }
        )
    for name, why in skipped.items():
        rows.append(
            {"scenario": name, "metric": "not run", "value": "-", "target": "", "verdict": why}
        )
    return rows, _render(rows)


def _render(rows: list[dict[str, str]]) -> str:
    headers = ["scenario", "metric", "value", "target", "verdict"]
    return _grid(headers, [[r[h] for h in headers] for r in rows])


def _grid(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, columns padded to their widest cell."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def cost_table(cost: list[dict[str, Any]]) -> str:
    headers = ["request", "total", "per task", "operator", "providers"]
    rows = [
        [
            c["request"],
            str(c["total"]),
            f"{c['per_task']:.3f}",
            str(c["operator"]),
            str(c["providers"]),
        ]
        for c in cost
    ]
    return _grid(headers, rows)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
