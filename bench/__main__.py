"""python -m bench [--quick] [--scenario NAME ...] [--runs N] [--seed S] [--keep]

Starts its own local control plane (etcd + kube-apiserver + kube-controller-manager,
via tests.harness, in a fresh state dir), then runs each scenario with the operator
and providers as real processes, prints a table of medians against the targets and
writes everything to bench/results/<timestamp>.json. See docs/benchmarks.md.
"""

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskmill.provider.config import DEFAULT_PENDING_WATCH, PendingWatch

from bench import chaos, files, metricscost, peer, pools, report, scale, statusengine, steady, views
from bench.context import Bench
from bench.dispatch import dispatch
from bench.failover import failover
from bench.limit import Load, Yardstick
from bench.procs import Launcher
from bench.stack import kube_for, start_control_plane
from bench.throughput import Shape, throughput
from tests.harness.versions import REPO_ROOT, pinned_versions

RESULTS = REPO_ROOT / "bench" / "results"
Run = Callable[[Bench, int], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    name: str
    runs: int  # default number of runs (medians are taken over them)
    run: Run
    unavailable: Callable[[], str | None] = lambda: None  # why it cannot run here


def scenarios(
    quick: bool,
    seed: int,
    scale_items: int | None = None,
    scale_retention: str | None = None,
    yardstick: Yardstick | None = None,
    size: steady.Size | None = None,
    files_mib: int = 4,
    scale_batch_size: int = 1,
    chaos_claim: str = "Lease",
    chaos_pending_watch: str = DEFAULT_PENDING_WATCH,
) -> list[Scenario]:
    tput = Shape()
    yard = yardstick or Yardstick(Load())
    steady_size = size or steady.default_size(quick)
    items = scale_items or (10_000 if quick else 100_000)
    return [
        Scenario("throughput", 3, lambda b, _: throughput(b, tput, yard)),
        Scenario("metrics", 3, lambda b, _: metricscost.metrics_cost(b, Shape(tasks=1000))),
        Scenario("dispatch", 3, lambda b, _: dispatch(b, 20 if quick else 40, 8, 4)),
        Scenario("failover", 3, lambda b, _: failover(b, lease_seconds=10)),
        Scenario("steady", 1, lambda b, _: steady.steady(b, steady_size)),
        Scenario(
            "chaos",
            3,
            lambda b, i: chaos.bench_run(b, seed + i, chaos_claim, chaos_pending_watch),
        ),
        Scenario("pools", 1, lambda b, _: pools.pools(b)),
        Scenario("peer", 1, lambda b, _: peer.peer(b, 1000, yard), peer.unavailable),
        Scenario(
            "scale",
            1,
            lambda b, _: scale.scale(
                b, items=items, retention=scale_retention, batch_size=scale_batch_size
            ),
        ),
        Scenario("status", 3, lambda b, _: statusengine.status_engine(b)),
        Scenario("views", 1, lambda b, _: views.views(b)),
        Scenario(
            "files", 1, lambda b, _: files.files(b, size=files_mib * files.MIB), files.unavailable
        ),
    ]


def steady_size(text: str) -> steady.Size:
    """PROVIDERSxSLOTS[/PER_PROCESS], counted for a minute once every task runs."""
    shape, _, per_process = text.partition("/")
    providers, _, slots = shape.partition("x")
    try:
        size = steady.Size(int(providers), int(slots), 60.0, int(per_process or 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected e.g. 200x25/50") from None
    if min(size.providers, size.slots, size.per_process) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be at least 1")
    return size


def _pending_watch_option(p: argparse.ArgumentParser, scenario: str) -> None:
    p.add_argument(
        f"--{scenario}-pending-watch",
        choices=[w.value for w in PendingWatch],
        default=DEFAULT_PENDING_WATCH.value,
        help=f"the {scenario} scenario's providers' --pending-watch "
        f"(default {DEFAULT_PENDING_WATCH})",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [s.name for s in scenarios(False, 0)]
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help="one run each, a 10,000-item scale job, one chaos seed"
    )
    p.add_argument("--scenario", action="append", choices=names, help="run only these (repeatable)")
    p.add_argument(
        "--runs",
        type=int,
        help="runs per scenario (default: 3 for the cheap ones, 1 for the heavy ones)",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="random seed (chaos seeds are seed, seed+1, ...)"
    )
    p.add_argument("--scale-items", type=int, help="items of the scale job (default 100,000)")
    p.add_argument(
        "--files-mib", type=int, default=4, help="MiB in and out per task of the files job"
    )
    p.add_argument(
        "--scale-retention",
        choices=["Auto", "Keep", "Delete"],
        help="spec.retention.succeededTasks of the scale job (default: unset, i.e. Auto)",
    )
    p.add_argument(
        "--steady-size",
        type=steady_size,
        metavar="PROVIDERSxSLOTS[/PER_PROCESS]",
        help="the steady scenario's fleet, e.g. 200x25/50: 200 providers of 25 slots, 50 "
        "agents per process (default 40x25 one per process; --quick: 10x20)",
    )
    _pending_watch_option(p, "steady")
    p.add_argument(
        "--scale-batch-size",
        type=int,
        default=1,
        help="batchSize of the scale job: items per task (default 1)",
    )
    p.add_argument(
        "--chaos-claim",
        choices=["Lease", "Optimistic"],
        default="Lease",
        help="spec.claim of the chaos job (default Lease)",
    )
    _pending_watch_option(p, "chaos")
    p.add_argument("--keep", action="store_true", help="keep the state dir (logs, request tallies)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the operator and providers (.prof files in the kept state dir; "
        "implies --keep)",
    )
    return p.parse_args(argv)


async def run_scenario(
    bench: Bench, scenario: Scenario, runs: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The results of the runs that completed and the errors of those that did not."""
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    for i in range(runs):
        bench.say(f"== {scenario.name} run {i + 1}/{runs}")
        try:
            result = await scenario.run(bench, i)
            # The machine may be shared: the load next to each result says how much.
            result["loadavg_1m"] = os.getloadavg()[0]
            results.append(result)
        except Exception as e:
            bench.say(f"{scenario.name} run {i + 1} failed: {e}")
            traceback.print_exc()
            errors.append(f"{type(e).__name__}: {e}")
        bench.launcher.kill_all()  # nothing from one run may disturb the next
    return results, errors


async def main_async(args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    yard = Yardstick(Load())
    chosen = [
        s
        for s in scenarios(
            args.quick,
            args.seed,
            args.scale_items,
            args.scale_retention,
            yardstick=yard,
            size=replace(
                args.steady_size or steady.default_size(args.quick),
                pending_watch=args.steady_pending_watch,
            ),
            files_mib=args.files_mib,
            scale_batch_size=args.scale_batch_size,
            chaos_claim=args.chaos_claim,
            chaos_pending_watch=args.chaos_pending_watch,
        )
        if not args.scenario or s.name in args.scenario
    ]
    plane, cluster = start_control_plane(state_dir)
    launcher = Launcher(cluster.env, state_dir / "procs", profile=args.profile)
    record: dict[str, Any] = {"scenarios": {}, "skipped": {}}
    try:
        async with kube_for(cluster) as kube:
            bench = Bench(cluster, kube, launcher, random.Random(args.seed), quick=args.quick)
            bench.components = plane.layout.recorded_pids()
            bench.plane = plane
            bench.say(f"control plane up at {cluster.server} (state: {state_dir})")
            for scenario in chosen:
                runs = args.runs or (1 if args.quick else scenario.runs)
                why = scenario.unavailable()
                if why:
                    bench.say(f"{scenario.name}: cannot run here: {why}")
                    record["skipped"][scenario.name] = why
                    continue
                results, errors = await run_scenario(bench, scenario, runs)
                if not results:
                    record["skipped"][scenario.name] = "failed: " + "; ".join(errors)[:200]
                    continue
                med = report.medians(results)
                if scenario.name == "chaos":
                    med |= chaos.totals(results)
                record["scenarios"][scenario.name] = {
                    "runs": results,
                    "failed_runs": errors,
                    "median": med,
                }
    finally:
        launcher.kill_all()
        plane.stop()
    if yard.samples:
        record["limit"] = {"spread": yard.spread(), "samples": yard.samples}
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC)
    state_dir = Path(tempfile.mkdtemp(prefix="taskmill-bench-"))
    t0 = time.monotonic()
    try:
        record = asyncio.run(main_async(args, state_dir))
    finally:
        if not (args.keep or args.profile):
            shutil.rmtree(state_dir, ignore_errors=True)
    medians = {name: s["median"] for name, s in record["scenarios"].items()}
    if "limit" in record:
        medians["limit"] = record["limit"]["spread"]
    rows, text = report.table(medians, record["skipped"])
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n{command.strip()}  ({started:%Y-%m-%d %H:%M} UTC, {time.monotonic() - t0:.0f}s)\n")
    print(text)
    for name, s in record["scenarios"].items():
        tried = len(s["runs"]) + len(s["failed_runs"])
        print(f"{name}: medians of {len(s['runs'])}/{tried} runs", end="")
        print("".join(f"\n  failed run: {e[:200]}" for e in s["failed_runs"]))
    cost = record["scenarios"].get("throughput", {}).get("runs", [])
    if cost:
        print("\ncost of one throughput run (requests by verb and resource):\n")
        print(report.cost_table(cost[len(cost) // 2]["detail"]["cost"]))
    out = RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    report.write_json(
        out,
        {
            "command": command.strip(),
            "started": started.isoformat(),
            "seconds": time.monotonic() - t0,
            "machine": report.machine() | {"versions": pinned_versions()},
            "table": rows,
            **record,
        },
    )
    print(
        f"\nwrote {out.relative_to(REPO_ROOT)}"
        + (f"; state kept in {state_dir}" if args.keep or args.profile else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
