"""What every scenario gets: the cluster, a client, a process launcher, and a voice."""

import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from taskmill.provider.config import DEFAULT_PENDING_WATCH

from bench.procs import Launcher, Proc, cpu_seconds
from bench.stack import delete_namespace, new_namespace
from taskmill.kube import Kube
from tests.harness import Cluster, ControlPlane

NOOP = ["true"]
CAPABILITY = "noop"


@dataclass
class Bench:
    cluster: Cluster
    kube: Kube
    launcher: Launcher
    rng: random.Random
    quick: bool = False
    components: dict[str, int] = field(default_factory=dict)  # control-plane pids by name
    plane: ControlPlane | None = None  # for control-plane faults (chaos)
    started: float = field(default_factory=time.monotonic)

    def cpu(self, procs: dict[str, list[Proc]]) -> dict[str, float]:
        """CPU seconds so far of the control plane, the bench itself and the given groups."""
        usage = {name: cpu_seconds(pid) for name, pid in self.components.items()}
        usage["bench"] = cpu_seconds(os.getpid())
        for group, members in procs.items():
            usage[group] = sum(p.cpu_seconds() for p in members)
            usage[f"{group} (own)"] = sum(p.cpu_seconds(children=False) for p in members)
        return usage

    def say(self, message: str) -> None:
        print(
            f"[bench {time.monotonic() - self.started:6.1f}s] {message}",
            file=sys.stderr,
            flush=True,
        )

    async def namespace(self, prefix: str) -> str:
        return await new_namespace(self.kube, prefix)

    async def cleanup(self, namespace: str, procs: list[Proc]) -> None:
        for proc in procs:
            proc.stop()
        await delete_namespace(self.kube, namespace)

    def fleet(
        self,
        namespace: str,
        providers: int,
        slots: int,
        *,
        command: list[str] | None = None,
        lease_seconds: int = 15,
        prefix: str = "p",
        pending_watch: str = DEFAULT_PENDING_WATCH,
    ) -> list[Proc]:
        """Start `providers` command providers and wait until each serves."""
        procs = [
            self.launcher.provider(
                namespace,
                f"{prefix}{i}",
                CAPABILITY,
                command or NOOP,
                concurrency=slots,
                lease_seconds=lease_seconds,
                ready=False,
                extra=["--pending-watch", pending_watch],
            )
            for i in range(providers)
        ]
        for proc in procs:
            proc.wait_ready("serving")
        return procs


@contextmanager
def timed(bench: Bench, what: str) -> Iterator[None]:
    started = time.monotonic()
    bench.say(f"{what} ...")
    yield
    bench.say(f"{what}: done in {time.monotonic() - started:.1f}s")
