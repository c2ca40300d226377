"""`python -m tests.harness demo` (make demo): the main job end to end, on one machine.

  1. Starts an object store (SeaweedFS, tests/harness/objectstore.py) on loopback in
     <state>/demo/store and, meanwhile, the control plane in the state dir (or reuses
     the one `make cluster` runs); installs the CRDs.
  2. Recreates the namespace taskmill-demo and uploads 300 generated text files to
     the store as input/doc-000.txt ... input/doc-299.txt.
  3. Runs the operator and the example providers (examples/providers/) as child
     processes, logging to <state>/logs/demo-*.log: two command providers of
     demo.sha256 with different concurrency, and one SDK provider of demo.wordcount
     and demo.sha256sums. They share no folder: each knows the store from the stores
     file <state>/demo/stores.yaml, and stages each task's files into a working
     directory of its own.
  4. Applies examples/demo/batchjobs.yaml, and urgent.yaml once hash-bulk is under
     way, and shows each job's progress until all have finished.
  5. Prints `kubectl get batchjobs,tasks`, some results read back from the store and
     where the outputs went, and how to look around.

After success the operator, providers and store stop and the control plane keeps
running (the Tasks' manifests name every output). After a failed job, a timeout
(TASKMILL_DEMO_TIMEOUT seconds, default 300), an error, Ctrl-C or SIGTERM,
everything the demo started stops, the control plane too if the demo started it.
The exit status is 0 only when every job succeeded.
"""

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import obstore

from taskmill.api import BatchJob
from taskmill.api.meta import LABEL_PROVIDER, PROVIDER_LEASE_PREFIX
from taskmill.status import default_policy_text
from tests.harness import procs
from tests.harness.cluster import Cluster, KubectlError
from tests.harness.controlplane import (
    COMPONENTS,
    ControlPlane,
    Layout,
    running_components,
    stop_state_dir,
)
from tests.harness.demo_progress import JobRow, display_for
from tests.harness.objectstore import ObjectStore
from tests.harness.polling import PollTimeoutError, wait_for
from tests.harness.versions import REPO_ROOT, Binaries

NAMESPACE = "taskmill-demo"
CRD_DIR = REPO_ROOT / "crds"
MANIFESTS = REPO_ROOT / "examples" / "demo"
PROVIDERS = REPO_ROOT / "examples" / "providers"
# The manifests name the inputs by their keys in the store, for indexes 0..299.
INPUT_COUNT = 300
INPUT_KEY = "input/doc-{index:03d}.txt"
INPUT_UPLOADS = 16  # at once
JOB_ORDER = ("hash-bulk", "hash-urgent", "wordcount", "checksums")
# hash-urgent is applied once this many hash-bulk Tasks are done, to show it overtake.
URGENT_AFTER = 10
DEFAULT_TIMEOUT = 300.0
REFRESH_SECONDS = 1.0
TASKS_SHOWN = 15
WORDS = (
    "the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "are", "with",
    "as", "be", "at", "by", "this", "from", "or", "have", "an", "they", "which", "one",
    "you", "had", "word", "but", "not", "what", "all", "were", "when", "we", "there", "can",
    "lease", "task", "job", "provider", "operator", "batch", "queue", "shard", "epoch",
    "watch", "priority", "heartbeat",
)  # fmt: skip


class DemoError(Exception):
    """The demo cannot succeed; the message says why."""


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def input_texts(count: int = INPUT_COUNT) -> dict[str, str]:
    """`count` small texts of random words by key, the same ones on every run."""
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]  # Zipf-like, as in real text
    texts = {}
    for index in range(count):
        rng = random.Random(index)
        lines = [
            " ".join(rng.choices(WORDS, weights, k=rng.randint(4, 14)))
            for _ in range(rng.randint(5, 60))
        ]
        texts[INPUT_KEY.format(index=index)] = "\n".join(lines) + "\n"
    return texts


def upload_inputs(store: ObjectStore, texts: Mapping[str, str]) -> None:
    client = store.client()
    gate = asyncio.Semaphore(INPUT_UPLOADS)

    async def put(key: str, text: str) -> None:
        async with gate:
            await obstore.put_async(client, key, text.encode())

    async def put_all() -> None:
        await asyncio.gather(*(put(key, text) for key, text in texts.items()))

    asyncio.run(put_all())


def children(namespace: str, stores: Path) -> dict[str, list[str]]:
    """The operator and the providers, by name, in start order. `stores`: the providers'
    stores file (the SDK provider finds it in $TASKMILL_STORES)."""
    py = sys.executable
    command_provider = [
        py, "-m", "taskmill.provider", "--namespace", namespace, "--stores", str(stores),
    ]  # fmt: skip
    hash_command = [
        "--capability", "demo.sha256",
        "--grace-seconds", "5",
        "--command", py, str(PROVIDERS / "sha256_files.py"),
    ]  # fmt: skip
    sdk_provider = [py, str(PROVIDERS / "text_stats.py")]
    return {
        "operator": [
            py,
            "-m",
            "taskmill.operator",
            "--namespace",
            namespace,
            "--metrics-bind-address",
            "0",
        ],
        "hasher-1": [*command_provider, "--concurrency", "3", *hash_command],
        "hasher-2": [*command_provider, "--concurrency", "1", *hash_command],
        "text-stats": [*sdk_provider, "--namespace", namespace, "--concurrency", "3"],
    }


def spawn_children(
    namespace: str, env: Mapping[str, str], stores: Path, log_dir: Path
) -> Iterator[tuple[str, "subprocess.Popen[bytes]"]]:
    """Start the operator and providers of `namespace`, one at a time, so that the
    caller holds each before the next starts. Logs: <log_dir>/demo-<name>.log."""
    for name, args in children(namespace, stores).items():
        log = log_dir / f"demo-{name}.log"
        log.unlink(missing_ok=True)
        child_env = {
            **env,
            "POD_NAME": f"demo-{name}",
            "PYTHONUNBUFFERED": "1",
            "TASKMILL_STORES": str(stores),
        }
        # die_with_parent: even a SIGKILLed demo leaves none of them behind.
        # In the stores file's directory: nothing there is shared, each task gets its own.
        yield name, procs.spawn(args, log, die_with_parent=True, env=child_env, cwd=stores.parent)


def stop_children(started: dict[str, "subprocess.Popen[bytes]"]) -> None:
    """Stop (and forget) them in reverse start order: providers before the operator."""
    for name in reversed(list(started)):
        proc = started.pop(name)
        procs.stop_group(proc.pid, procs.child_exited(proc))


def provider_leases(cluster: Cluster, namespace: str) -> set[str]:
    """Names of the presence Leases of the providers announced in `namespace`."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    leases = json.loads(cluster.get(f"{path}?labelSelector={LABEL_PROVIDER}%3Dtrue"))
    return {lease["metadata"]["name"] for lease in leases["items"]}


def truncate_listing(text: str, keep: int, more_hint: str) -> str:
    """`kubectl get a,b` prints a table per kind, blank-line separated: cut the last one."""
    *head, last = text.strip("\n").split("\n\n")
    header, *rows = last.splitlines()
    if len(rows) > keep:
        rows = [*rows[:keep], f"... {len(rows) - keep} more ({more_hint})"]
    return "\n\n".join([*head, "\n".join([header, *rows])])


class Demo:
    def __init__(self, layout: Layout, timeout: float) -> None:
        self.layout = layout
        self.timeout = timeout
        self.work_dir = layout.root / "demo"
        self.binaries = Binaries.locate()
        self.plane: ControlPlane | None = None  # only when this demo started it
        self.cluster: Cluster | None = None
        self.store = ObjectStore(self.work_dir / "store", binaries=self.binaries)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started = time.monotonic()
        self.urgent_story: list[int] = []  # hash-bulk's done count when urgent came / went

    # --- setting up ------------------------------------------------------------

    def run(self) -> bool:
        """Everything up to the final tables; True when every job succeeded."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.binaries.ensure(("kube", "etcd", "seaweedfs"))
        self.store.start()  # it takes seconds, as the control plane does: both at once
        cluster = self.cluster = self._control_plane()
        self.store.wait_ready()
        _say(f"object store (SeaweedFS) up at {self.store.endpoint}, bucket {self.store.bucket}")
        _say("installing the CRDs")
        cluster.apply_crds(sorted(CRD_DIR.glob("*.yaml")))
        _say("installing the default StatusPolicy (docs/status.md)")
        cluster.kubectl("apply", "-f", "-", input=default_policy_text())
        _say(f"recreating namespace {NAMESPACE}")
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=120s")
        cluster.kubectl("create", "namespace", NAMESPACE)
        upload_inputs(self.store, input_texts())
        _say(f"uploaded {INPUT_COUNT} text files to the store: {INPUT_KEY.format(index=0)} ...")
        self._start_children(cluster)
        _say("applying examples/demo/batchjobs.yaml")
        self._apply("batchjobs.yaml")
        rows = self._follow()
        print(flush=True)
        self._print_tables(cluster)
        failed = [row for row in rows if row.failed]
        for row in failed:
            self._explain_failure(row.name)
        return not failed

    def _control_plane(self) -> Cluster:
        layout = self.layout
        cluster = Cluster(kubeconfig=layout.kubeconfig, bin_dir=self.binaries.kube_dir)
        if len(running_components(layout.root)) == len(COMPONENTS) and layout.kubeconfig.exists():
            try:
                cluster.get("/readyz", timeout=5)
            except OSError:
                pass
            else:
                _say(f"using the running control plane ({cluster.server})")
                return cluster
        stop_state_dir(layout.root)  # the remains of one that is not healthy
        _say(f"starting the control plane (state in {layout.root})")
        self.plane = ControlPlane(layout.root, self.binaries, die_with_parent=False)
        cluster = self.plane.start()
        _say(f"control plane up in {time.monotonic() - self.started:.0f}s at {cluster.server}")
        return cluster

    def _start_children(self, cluster: Cluster) -> None:
        stores = self.store.stores_file(self.work_dir / "stores.yaml")
        for name, proc in spawn_children(NAMESPACE, cluster.env, stores, self.layout.logs):
            self.children[name] = proc
        providers = [name for name in self.children if name != "operator"]
        _say(f"started the operator and providers {', '.join(providers)}")
        _say(f"their logs: {self.layout.log('demo-*')}")
        expected = {f"{PROVIDER_LEASE_PREFIX}demo-{name}" for name in providers}

        def announced() -> bool:
            self._check_children()
            return expected <= provider_leases(cluster, NAMESPACE)

        wait_for(announced, timeout=60, what="the providers to announce themselves")

    def _check_children(self) -> None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                log = self.layout.log(f"demo-{name}")
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise DemoError(f"{name} exited with code {proc.returncode}; {log}:\n{tail}")

    def _apply(self, manifest: str) -> None:
        assert self.cluster
        self.cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(MANIFESTS / manifest))

    # --- following the jobs ----------------------------------------------------

    def _jobs(self) -> list[JobRow]:
        assert self.cluster
        listing = json.loads(
            self.cluster.get(f"/apis/taskmill.io/v1alpha1/namespaces/{NAMESPACE}/batchjobs")
        )
        rows = [JobRow.of(BatchJob.model_validate(item)) for item in listing["items"]]
        order = {name: i for i, name in enumerate(JOB_ORDER)}
        return sorted(rows, key=lambda row: (order.get(row.name, len(order)), row.name))

    def _follow(self) -> list[JobRow]:
        """Show progress until every job has finished or one has failed."""
        display = display_for(sys.stdout)
        begun = tick = time.monotonic()
        deadline = begun + self.timeout
        while True:
            self._check_children()
            rows = self._jobs()
            if self._urgent_due(rows):
                self._apply("urgent.yaml")
                display.note(
                    f"[demo] hash-bulk has {self.urgent_story[0]} tasks done: "
                    "applying examples/demo/urgent.yaml (hash-urgent, priority 10)"
                )
                rows = self._jobs()
            self._note_urgent_finished(rows)
            display.show(rows, time.monotonic() - begun)
            all_finished = len(rows) == len(JOB_ORDER) and all(row.finished for row in rows)
            if all_finished or any(row.failed for row in rows):
                return rows
            if time.monotonic() > deadline:
                waiting = ", ".join(row.name for row in rows if not row.finished)
                raise DemoError(f"timed out after {self.timeout:.0f}s waiting for: {waiting}")
            tick += REFRESH_SECONDS  # the display's refresh rate, whatever a round took
            time.sleep(max(0.0, tick - time.monotonic()))

    def _urgent_due(self, rows: list[JobRow]) -> bool:
        """Time for hash-urgent: hash-bulk is under way. Records where hash-bulk stood."""
        bulk = next((row for row in rows if row.name == "hash-bulk"), None)
        if self.urgent_story or bulk is None or bulk.succeeded < URGENT_AFTER:
            return False
        self.urgent_story.append(bulk.succeeded)
        return True

    def _note_urgent_finished(self, rows: list[JobRow]) -> None:
        """Records where hash-bulk stood when hash-urgent finished."""
        by_name = {row.name: row for row in rows}
        urgent, bulk = by_name.get("hash-urgent"), by_name.get("hash-bulk")
        if len(self.urgent_story) == 1 and urgent and bulk and urgent.finished:
            self.urgent_story.append(bulk.succeeded)

    # --- reporting -------------------------------------------------------------

    def _print_tables(self, cluster: Cluster) -> None:
        listing = cluster.kubectl("get", "batchjobs,tasks", "-n", NAMESPACE).stdout
        print(f"$ kubectl get batchjobs,tasks -n {NAMESPACE}")
        print(truncate_listing(listing, TASKS_SHOWN, f"kubectl get tasks -n {NAMESPACE}"))
        print(flush=True)

    def _task(self, name: str) -> dict[str, Any]:
        assert self.cluster
        path = f"/apis/taskmill.io/v1alpha1/namespaces/{NAMESPACE}/tasks/{name}"
        task: dict[str, Any] = json.loads(self.cluster.get(path))
        return task

    def _explain_failure(self, job_name: str) -> None:
        assert self.cluster
        path = f"/apis/taskmill.io/v1alpha1/namespaces/{NAMESPACE}/batchjobs/{job_name}"
        job = BatchJob.model_validate(json.loads(self.cluster.get(path)))
        for condition in job.status.conditions:
            if condition.type in ("Failed", "Cancelled") and condition.status == "True":
                print(f"{job_name}: {condition.reason}: {condition.message}")
        for name in job.status.failed_tasks[:3]:
            result = self._task(name).get("status", {}).get("result", {})
            output = "\n    ".join(result.get("output", "").splitlines()[-5:])
            print(f"  task {name}: {result.get('reason')}: {result.get('message')}\n    {output}")
        print(flush=True)

    def print_results(self) -> None:
        """Results, with outputs read back from the store by the keys their Tasks' manifests
        name; called while the store still runs."""
        store = self.store
        print(f"Results (outputs in the object store: s3://{store.bucket} at {store.endpoint}):")
        output = self._task("hash-urgent-0")["status"]["result"]["output"].splitlines()[0]
        print(f"  task hash-urgent-0 result.output: {output} ...")
        stats = self._task("wordcount-0")["status"]["result"]["files"]["outputs"]
        print(f"  task wordcount-0 uploaded {len(stats)} files, e.g. {stats[0]['key']}:")
        print(f"    {self.read_object(stats[0]['key']).strip()}")
        result = self._task("checksums-0")["status"]["result"]
        sums = result["files"]["outputs"][0]
        print(f"  task checksums-0 result.output: {result['output'].strip()}")
        print(f"    uploaded {sums['key']}: {sums['size']} bytes, sha256 {sums['sha256']}:")
        print(f"    {self.read_object(sums['key']).splitlines()[0]} ...")
        if len(self.urgent_story) == 2:
            came, went = self.urgent_story
            print(
                f"  hash-urgent (priority 10) arrived when hash-bulk had {came} tasks done and "
                f"finished when it had {went}: its tasks went first."
            )
        print(flush=True)

    def print_how_to_look(self) -> None:
        root = self.layout.root
        down = "make cluster-down"
        if root != (REPO_ROOT / ".taskmill").resolve():
            down = f"python -m tests.harness down --state-dir {root}"
        print(
            "The operator, providers and object store have stopped; the control plane keeps "
            "running.\n"
            "Look around:\n"
            f"  export KUBECONFIG={self.layout.kubeconfig}\n"
            f'  export PATH="{self.binaries.kube_dir}:$PATH"\n'
            f"  kubectl get bj -n {NAMESPACE}\n"
            f"  kubectl get tasks -n {NAMESPACE} -l taskmill.io/batchjob=hash-urgent\n"
            f"  kubectl describe task hash-urgent-0 -n {NAMESPACE}\n"
            f"  kubectl get task checksums-0 -n {NAMESPACE} "
            "-o jsonpath='{.status.result.files.outputs}'\n"
            f"Stop it with: {down}",
            flush=True,
        )

    # --- tearing down ----------------------------------------------------------

    def read_object(self, key: str) -> str:
        return bytes(obstore.get(self.store.client(), key).bytes()).decode()

    def stop(self, *, keep_control_plane: bool) -> None:
        """Stop the children (providers first), the store, and the control plane unless kept.

        Ctrl-C is ignored meanwhile: an impatient second one must not leave strays.
        """
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop_children(self.children)
            self.store.__exit__(None, None, None)
            if self.plane and not keep_control_plane:
                self.plane.stop()
        finally:
            signal.signal(signal.SIGINT, previous)


def demo(layout: Layout) -> int:
    run = Demo(layout, float(os.environ.get("TASKMILL_DEMO_TIMEOUT") or DEFAULT_TIMEOUT))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            succeeded = run.run()
            if succeeded:
                run.print_results()
        # RuntimeError: the control plane (StartupError) or the store did not start.
        except (DemoError, RuntimeError, KubectlError, PollTimeoutError) as e:
            print(f"\n[demo] failed: {e}", flush=True)
            succeeded = False
        except BaseException:
            _say("interrupted: stopping everything the demo started")
            run.stop(keep_control_plane=False)
            raise
        everything = "" if succeeded else " (and all else)"
        _say(f"stopping the operator, providers and object store{everything}")
        run.stop(keep_control_plane=succeeded)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not succeeded:
        _say(f"logs: {layout.log('demo-*')} and {layout.logs}")
        return 1
    run.print_how_to_look()
    _say(f"done in {time.monotonic() - run.started:.0f}s")
    return 0
