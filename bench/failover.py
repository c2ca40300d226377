"""Failover: SIGKILL the provider running a task; how long until it runs elsewhere.

One task (a long sleep), two idle providers with one slot each, the operator with its
default lease grace, then again with a 1 s grace. Once the task runs, its holder is
SIGKILLed (as a node loss would); the clock stops at the new lease's startTime,
stamped by the other provider. The task's lease lives by the holder's presence Lease,
so the time that matters is from that Lease's last renewal (its renewTime, written by
the victim) to the new start, against the presence Lease's duration: the target is
that duration plus 2 s.
"""

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.stack import parse_time
from taskmill.kube.paths import BATCHJOBS, LEASES, TASKS
from tests.builders import make_batchjob

JOB = "failover"
TASK = f"{JOB}-0"


async def _task_when(bench: Bench, namespace: str, ok: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        try:
            body: dict[str, Any] = await bench.kube.get(TASKS.path(namespace, TASK))
        except Exception:  # not created yet
            body = {}
        if body and ok(body.get("status", {})):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"failover: task state not reached in {within:.0f}s: {body.get('status')}"
            )
        await asyncio.sleep(0.05)


def kill_recorded(pids: Path) -> None:
    if not pids.exists():
        return
    for line in pids.read_text().split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line), signal.SIGKILL)


async def failover(bench: Bench, lease_seconds: int) -> dict[str, Any]:
    """With the operator's default lease grace, then with a 1 s grace: the difference is
    the grace, the rest is what detection and re-dispatch cost."""
    default, renewed = await _failover_once(bench, lease_seconds, [])
    short, renewed_short = await _failover_once(
        bench, lease_seconds, ["--lease-grace-seconds", "1"]
    )
    return {
        "failover_s": default,
        "failover_grace1_s": short,
        "from_renewal_s": renewed,
        "from_renewal_grace1_s": renewed_short,
        "lease_s": float(lease_seconds),
        "over_lease_s": renewed - lease_seconds,
    }


async def _failover_once(
    bench: Bench, lease_seconds: int, operator_args: list[str]
) -> tuple[float, float]:
    """Seconds from the kill, and from the victim's last presence renewal, to the task
    running elsewhere."""
    namespace = await bench.namespace("failover")
    operator = bench.launcher.operator(namespace, extra=operator_args)
    # The command records its pid: a SIGKILLed provider leaves its command running.
    pids = bench.launcher.log_dir / f"{namespace}.pids"
    command = ["sh", "-c", f'echo $$ >> "{pids}"; exec sleep 60']
    fleet = bench.fleet(namespace, 2, 1, command=command, lease_seconds=lease_seconds)
    operator.wait_ready("loaded state")
    try:
        spec = {
            "range": {"start": 0, "end": 1},
            "lease": {"durationSeconds": lease_seconds},
            "retry": {"maxAttempts": 3, "backoffSeconds": 0},
        }
        await bench.kube.create(
            BATCHJOBS.path(namespace), make_batchjob(JOB, CAPABILITY).spec(**spec).obj()
        )
        first = await _task_when(bench, namespace, lambda s: s.get("phase") == "Running", 60)
        holder = first["status"]["lease"]["holder"]
        victim = next(p for p in fleet if p.name.endswith(f"-{holder}"))
        victim.kill()
        killed = time.time()
        presence = await bench.kube.get(LEASES.path(namespace, f"taskmill-provider-{holder}"))
        last_renewal = parse_time(presence["spec"]["renewTime"])
        bench.say(f"failover: SIGKILLed {holder}; waiting for the task to run elsewhere")
        moved = await _task_when(
            bench,
            namespace,
            lambda s: s.get("phase") == "Running" and s["lease"]["holder"] not in ("", holder),
            lease_seconds * 4 + 60,
        )
        started = parse_time(moved["status"]["startTime"])
    finally:
        await bench.cleanup(namespace, [operator, *fleet])
        kill_recorded(pids)
    grace = " ".join(operator_args) or "default grace"
    elapsed, renewed = started - killed, started - last_renewal
    bench.say(
        f"failover: ran elsewhere {elapsed:.1f}s after the kill, {renewed:.1f}s after the "
        f"victim's last presence renewal (presence lease {lease_seconds}s, {grace})"
    )
    return elapsed, renewed
