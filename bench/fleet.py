"""python -m bench.fleet NAMESPACE CAPABILITY PREFIX FIRST COUNT SLOTS LEASE_SECONDS

Many provider agents in one process, for the steady-state scenario's hundreds of
providers on a two-core machine. Agent i (FIRST <= i < FIRST + COUNT) is provider
PREFIX<i>: the same taskmill.provider Agent a provider pod runs, with its own identity,
presence Lease (and instance), Task watches, claimer, keeper and API client (its own
connection pool), so the API server sees COUNT providers' requests and watches. Its
work is an in-process handler that waits until it is told to stop, the way a long
task's command would, without a process per task.

How honest that is (docs/benchmarks.md, "steady"): the requests, watches, Lease
renewals and Task writes are exactly those of COUNT separate providers. What differs
is the sharing: one event loop and one CPU budget for all of them, so a busy agent
delays its neighbours' renewals (a separate pod would not be delayed by them), and one
process's memory instead of COUNT. The fleet therefore errs toward late renewals,
never toward fewer writes.
"""

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from taskmill.provider.agent import Agent
from taskmill.provider.config import PendingWatch, ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.handlers import HandlerRunner, register

from bench.procs import Launcher, Proc
from taskmill.kube import Kube, load_connection

READY = "fleet serving"  # logged once every agent serves
KILL_GRACE_SECONDS = 2.0  # the bench launcher's, for its single providers too
WAIT_SECONDS = 24 * 3600.0


async def _wait(params: dict[str, Any], ctx: Context) -> str:
    """A long task: done when stopped (or after a day)."""
    await ctx.cancelled.wait_async(WAIT_SECONDS)
    return "stopped"


def configs(
    namespace: str,
    capability: str,
    prefix: str,
    first: int,
    count: int,
    slots: int,
    lease: int,
    pending_watch: str,
) -> list[ProviderConfig]:
    return [
        ProviderConfig(
            capabilities=(capability,),
            identity=f"{prefix}{i}",
            namespace=namespace,
            concurrency=slots,
            lease_seconds=lease,
            grace_seconds=5.0,
            kill_grace_seconds=KILL_GRACE_SECONDS,
            pending_watch=PendingWatch(pending_watch),
        )
        for i in range(first, first + count)
    ]


async def serve(agents: list[ProviderConfig]) -> None:
    """Run every agent until SIGTERM; each gets its own client."""
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, shutdown.set)
    runner = HandlerRunner({c: register(_wait) for c in agents[0].capabilities})
    conn = load_connection()
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for config in agents:
            kube = await stack.enter_async_context(
                Kube(conn, user_agent=f"taskmill-provider/{config.identity}")
            )
            agent = Agent(kube, config, runner)
            running.append(asyncio.create_task(agent.run(shutdown), name=config.identity))
        await _announced(agents)
        await asyncio.gather(*running)


async def _announced(agents: list[ProviderConfig]) -> None:
    """Say READY once every agent logged that it serves."""
    serving: set[str] = set()
    everyone = asyncio.Event()

    class Serving(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("provider ") and " serving " in record.getMessage():
                serving.add(record.getMessage().split()[1])
                if len(serving) == len(agents):
                    everyone.set()

    handler = Serving()
    logging.getLogger("taskmill.provider.agent").addHandler(handler)
    await everyone.wait()
    logging.getLogger("taskmill.provider.agent").removeHandler(handler)
    logging.getLogger(__name__).warning("%s: %d agents", READY, len(agents))


def start(
    launcher: Launcher,
    namespace: str,
    capability: str,
    first: int,
    count: int,
    slots: int,
    lease_seconds: int,
    pending_watch: str,
) -> Proc:
    """A fleet process of providers p<first> .. p<first + count - 1>, counted like any
    provider (bench.counted); wait for READY before relying on it."""
    args = [namespace, capability, "p", str(first), str(count), str(slots), str(lease_seconds)]
    args.append(pending_watch)
    proc = Proc(f"{namespace}-fleet{first}", ["bench.fleet", *args], launcher.env, launcher.log_dir)
    launcher.procs.append(proc)
    return proc


def main(argv: list[str]) -> int:
    namespace, capability, prefix, first, count, slots, lease, pending_watch = argv
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("taskmill.provider.agent").setLevel(logging.INFO)
    agents = configs(
        namespace, capability, prefix, int(first), int(count), int(slots), int(lease), pending_watch
    )
    asyncio.run(serve(agents))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
