"""What metrics cost the operator: the same job twice, metrics off then on (served and
scraped every second, as a busy Prometheus would), and the operator's CPU per task."""

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.context import Bench
from bench.throughput import Shape, run_job
from tests.harness.ports import free_ports

TARGET_RATIO = 1.05  # metrics on may cost at most 5% more operator CPU per task


@contextmanager
def scraping(url: str, every: float = 1.0) -> Iterator[list[int]]:
    """Scrape `url` every `every` seconds in a thread; yields the list of byte counts."""
    sizes: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    sizes.append(len(resp.read()))
            except OSError:
                sizes.append(-1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sizes
    finally:
        stop.set()
        thread.join()


async def _run(bench: Bench, shape: Shape, address: str) -> dict[str, Any]:
    namespace = await bench.namespace("mcost")
    operator = bench.launcher.operator(namespace, extra=["--metrics-bind-address", address])
    providers = bench.fleet(namespace, shape.providers, shape.slots)
    operator.wait_ready("loaded state")
    try:
        return await run_job(bench, namespace, shape.tasks, operator, providers)
    finally:
        await bench.cleanup(namespace, [operator, *providers])


async def metrics_cost(bench: Bench, shape: Shape) -> dict[str, Any]:
    off = await _run(bench, shape, "0")
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    with scraping(f"http://{address}/metrics") as scrapes:
        on = await _run(bench, shape, address)
    per_task = {
        name: result["cpu_s"]["operator"] * 1000 / shape.tasks
        for name, result in (("off", off), ("on", on))
    }
    ratio = per_task["on"] / per_task["off"] if per_task["off"] else float("nan")
    bench.say(
        f"metrics: operator CPU {per_task['off']:.2f} ms/task off, {per_task['on']:.2f} on "
        f"({ratio:.3f}x), {len(scrapes)} scrapes"
    )
    return {
        "operator_cpu_ms_per_task_off": per_task["off"],
        "operator_cpu_ms_per_task_on": per_task["on"],
        "on_off_ratio": ratio,
        "within_target": float(ratio <= TARGET_RATIO),
        "scrapes": len([s for s in scrapes if s > 0]),
        "failed_scrapes": len([s for s in scrapes if s < 0]),
    }
