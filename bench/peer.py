"""Peer: the same items as a batch/v1 Indexed Job on the same control plane, side by side.

The harness's kube-controller-manager runs only the garbage-collector, namespace and
service-account controllers, so this scenario starts a second one with just the job
controller (leader election off, a client rate limit high enough not to be what limits
it), and kwok (built from the Go module proxy by hack/build-control-plane.sh kwok) to
play the kubelet of one fake node. Pods are bound by the Job's pod template
(spec.nodeName), so no scheduler is needed; kwok's stages take each pod Pending ->
Running -> Succeeded at once, as kwok's own "fast" stage set does: two status writes per
pod, where a real kubelet makes more. Both choices favour the Job.

Both sides get the same parallelism (8 providers x 4 slots = 32 pods at once) and
the same 1,000 items; each makespan runs from just before the create request to the
moment the bench sees the job finished (polled every 0.2 s). taskmill runs them as one
item per Task (like for like with one pod per index), again so with spec.claim
Optimistic (two writes per task: the opt-in mode for short, idempotent tasks), and
once with batchSize 10, the knob a user has for short items.
"""

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.context import CAPABILITY, Bench
from bench.limit import Yardstick
from bench.stack import wait_job
from bench.throughput import WRITE_VERBS
from taskmill.kube.paths import BATCHJOBS, ResourcePath
from tests.builders import make_batchjob
from tests.harness import Binaries, procs
from tests.harness.kwok import NODE, kwok_binary, node_manifest, start_kwok
from tests.harness.metrics import diff, request_counts
from tests.harness.versions import BUILD_SCRIPT

JOBS = ResourcePath("batch", "v1", "jobs")
NODES = ResourcePath("", "v1", "nodes", namespaced=False)
PARALLELISM = 32
PROVIDERS, SLOTS = 8, 4
BATCH = 10  # items per Task in the batched taskmill run


def unavailable() -> str | None:
    """Build kwok if it is missing; say why the scenario cannot run if that fails."""
    if os.access(kwok_binary(), os.X_OK):
        return None
    build = subprocess.run([str(BUILD_SCRIPT), "kwok"], stdout=2, check=False)
    if build.returncode != 0 or not os.access(kwok_binary(), os.X_OK):
        return (
            f"kwok could not be built ({BUILD_SCRIPT} kwok exited {build.returncode}; "
            "it needs Go and the module proxy)"
        )
    return None


def indexed_job(name: str, completions: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": PARALLELISM,
            "completionMode": "Indexed",
            "backoffLimitPerIndex": 3,
            "maxFailedIndexes": completions,
            "template": {
                "spec": {
                    "nodeName": NODE,
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "busybox", "command": ["true"]}],
                    "tolerations": [{"operator": "Exists"}],
                }
            },
        },
    }


class Peers:
    """kwok and a job-controller-only kube-controller-manager, for the scenario's lifetime."""

    def __init__(self, bench: Bench, log_dir: Path) -> None:
        self.bench = bench
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.started.append(start_kwok(self.bench.cluster.kubeconfig, self.log_dir))
        kubeconfig = str(self.bench.cluster.kubeconfig)
        self._spawn(
            "kcm-jobs",
            [
                Binaries.locate().kube_controller_manager,
                f"--kubeconfig={kubeconfig}",
                "--controllers=job-controller",
                "--leader-elect=false",
                "--secure-port=0",
                # The default 20 qps would make the client, not the controller, the limit.
                "--kube-api-qps=1000",
                "--kube-api-burst=2000",
            ],
        )

    def _spawn(self, name: str, args: list[Any]) -> None:
        self.started.append(procs.spawn(args, self.log_dir / f"{name}.log", die_with_parent=True))

    def stop(self) -> None:
        for proc in reversed(self.started):
            procs.stop_group(proc.pid, procs.child_exited(proc))


async def _node(bench: Bench) -> None:
    try:
        await bench.kube.create(NODES.path(), node_manifest())
    except Exception as e:  # already there from an earlier run
        if "409" not in str(e):
            raise


async def _job_done(bench: Bench, namespace: str, name: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = await bench.kube.get(JOBS.path(namespace, name))
        conditions = {
            c["type"]: c["status"] for c in body.get("status", {}).get("conditions") or []
        }
        if conditions.get("Complete") == "True" or conditions.get("Failed") == "True":
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"Job not finished in {within:.0f}s: {body.get('status')}")
        await asyncio.sleep(0.2)


async def run_indexed_job(bench: Bench, items: int) -> tuple[float, float]:
    """Makespan and API writes per item (every writer: job controller, kwok, GC)."""
    namespace = await bench.namespace("peer-job")
    try:
        before = request_counts(bench.cluster.metrics())
        started = time.time()
        await bench.kube.create(JOBS.path(namespace), indexed_job("peer", items))
        job = await _job_done(bench, namespace, "peer", 120 + items * 0.5)
        elapsed = time.time() - started
        calls = diff(before, request_counts(bench.cluster.metrics()))
        writes = sum(n for (verb, _, _), n in calls.items() if verb in WRITE_VERBS) - 1
        if job["status"].get("succeeded") != items:
            raise RuntimeError(f"Indexed Job ended with {job['status']}")
    finally:
        await bench.cleanup(namespace, [])
    return elapsed, writes / items


async def run_taskmill(
    bench: Bench, items: int, batch_size: int, *, optimistic: bool = False
) -> float:
    namespace = await bench.namespace("peer-tm")
    operator = bench.launcher.operator(namespace)
    fleet = bench.fleet(namespace, PROVIDERS, SLOTS)
    operator.wait_ready("loaded state")
    try:
        spec = {
            "items": [f"item-{i}" for i in range(items)],
            "batchSize": batch_size,
            "retry": {"backoffSeconds": 0},
        }
        if optimistic:  # run first, claim with the result (docs/architecture.md)
            spec |= {"claim": "Optimistic", "timeoutSeconds": 30}
        started = time.time()
        await bench.kube.create(
            BATCHJOBS.path(namespace), make_batchjob("peer", CAPABILITY).spec(**spec).obj()
        )
        job = await wait_job(bench.kube, namespace, "peer", within=120 + items * 0.5, poll=0.2)
        elapsed = time.time() - started
        if job["status"]["phase"] != "Succeeded":
            raise RuntimeError(f"BatchJob ended {job['status']['phase']}")
    finally:
        await bench.cleanup(namespace, [operator, *fleet])
    return elapsed


async def peer(bench: Bench, items: int, yardstick: Yardstick) -> dict[str, Any]:
    """Both sides between two measurements of the limit (bench.limit): the ratio is
    reported with the limit's spread, which says how steady the machine was."""
    await yardstick.before(bench)
    peers = Peers(bench, bench.launcher.log_dir)
    peers.start()
    try:
        await _node(bench)
        bench.say(f"peer: Indexed Job, {items} completions, parallelism {PARALLELISM}")
        job_s, job_writes = await run_indexed_job(bench, items)
        bench.say(f"peer: Indexed Job done in {job_s:.1f}s; now taskmill, {PROVIDERS}x{SLOTS}")
        taskmill_s = await run_taskmill(bench, items, 1)
        bench.say(f"peer: taskmill {taskmill_s:.1f}s; now with spec.claim Optimistic")
        optimistic_s = await run_taskmill(bench, items, 1, optimistic=True)
        bench.say(f"peer: Optimistic {optimistic_s:.1f}s; now with batchSize {BATCH}")
        batched_s = await run_taskmill(bench, items, BATCH)
    finally:
        peers.stop()
    await yardstick.after(bench)
    bench.say(
        f"peer: Indexed Job {job_s:.1f}s ({job_writes:.1f} writes per item), taskmill "
        f"{taskmill_s:.1f}s, taskmill with batchSize {BATCH} {batched_s:.1f}s"
    )
    return {
        "job_makespan_s": job_s,
        "job_writes_per_item": job_writes,
        "taskmill_makespan_s": taskmill_s,
        "taskmill_optimistic_makespan_s": optimistic_s,
        "taskmill_batched_makespan_s": batched_s,
        "job_items_per_s": items / job_s,
        "taskmill_items_per_s": items / taskmill_s,
        "taskmill_optimistic_items_per_s": items / optimistic_s,
        "taskmill_batched_items_per_s": items / batched_s,
    }
