"""Files: 200 tasks, each 4 MiB in and 4 MiB out through the local object store.

Side by side in one run, on one SeaweedFS (tests/harness/objectstore.py):
  raw   the same bytes moved by obstore directly: each of the 200 objects downloaded
        to a file and a 4 MiB file uploaded, as many at once as the fleet has slots;
  job   a BatchJob whose items name the objects: each task's provider stages its
        input, the command copies it to its output, the provider uploads that.
MB/s counts the bytes in plus the bytes out over the wall time (the job's from create
to Succeeded, so it includes dispatch). CPU seconds per task of both ways are counted
too (the store, the control plane, operator, providers and their commands, the bench):
on a machine whose cores are all busy, their ratio is the most the job can reach.
Then one task with a large file (256 MiB, 1 GiB without --quick): the provider's peak
RSS must not grow with the file.
"""

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import obstore

from bench.context import Bench
from bench.procs import Proc, cpu_seconds
from bench.stack import wait_job
from taskmill.kube.paths import BATCHJOBS
from tests.builders import make_batchjob
from tests.harness.objectstore import ObjectStore
from tests.harness.versions import Binaries

CAPABILITY = "files.copy"
COPY = ["cp", "input.bin", "output.bin"]
MIB = 1024 * 1024


async def files(
    bench: Bench, tasks: int = 200, size: int = 4 * MIB, providers: int = 2, slots: int = 4
) -> dict[str, Any]:
    big = (256 if bench.quick else 1024) * MIB
    with (
        tempfile.TemporaryDirectory(prefix="bench-files-") as scratch,
        ObjectStore(Path(scratch) / "store") as store,
    ):
        root = Path(scratch)
        keys = [f"in/{i}.bin" for i in range(tasks)]
        await _upload_inputs(store, keys, size)
        raw_cpu = cpu_seconds(store.pid) + cpu_seconds(os.getpid())
        raw_s = await _raw_copy(store, keys, root, providers * slots)
        raw_cpu = cpu_seconds(store.pid) + cpu_seconds(os.getpid()) - raw_cpu
        namespace = await bench.namespace("files")
        stores = store.stores_file(root / "stores.yaml")
        operator = bench.launcher.operator(namespace)
        fleet = [
            bench.launcher.provider(
                namespace, f"f{i}", CAPABILITY, COPY, concurrency=slots,
                extra=["--stores", str(stores)], ready=False,
            )
            for i in range(providers)
        ]  # fmt: skip
        try:
            for proc in fleet:
                proc.wait_ready("serving")
            operator.wait_ready("loaded state")
            before = _cpu_of_all(bench, store, operator, fleet)
            job_s = await _run_job(bench, namespace, "small", keys, fleet)
            after = _cpu_of_all(bench, store, operator, fleet)
            small_rss = max(p.peak_rss_kib for p in fleet) / 1024
            await _upload_inputs(store, ["big/0.bin"], big)
            await _run_job(bench, namespace, "big", ["big/0.bin"], fleet)
            big_rss = max(p.peak_rss_kib for p in fleet) / 1024
        finally:
            await bench.cleanup(namespace, [operator, *fleet])
    moved = 2 * tasks * size / 1e6
    raw, job = moved / raw_s, moved / job_s
    by_process = {k: (after[k] - before[k]) * 1000 / tasks for k in after}
    raw_ms = raw_cpu * 1000 / tasks
    job_ms = sum(v for k, v in by_process.items() if not k.endswith("(own)"))
    bench.say(
        f"files: raw {raw:.0f} MB/s, job {job:.0f} MB/s ({job / raw:.0%}); CPU ms per task "
        f"raw {raw_ms:.0f}, job {job_ms:.0f}; provider peak RSS {small_rss:.0f} MiB with "
        f"{size // MIB} MiB files, {big_rss:.0f} MiB after {big // MIB} MiB"
    )
    return {
        "file_mib": float(size // MIB),
        "raw_mb_per_s": raw,
        "job_mb_per_s": job,
        "job_fraction_of_raw": job / raw,
        "raw_cpu_ms_per_task": raw_ms,
        "job_cpu_ms_per_task": job_ms,
        "cpu_bound_fraction": raw_ms / job_ms,
        "job_cpu_ms_per_task_by_process": by_process,
        "provider_peak_rss_mib_small": small_rss,
        "provider_peak_rss_mib_big": big_rss,
        "big_file_mib": float(big // MIB),
    }


def _cpu_of_all(
    bench: Bench, store: ObjectStore, operator: Proc, fleet: list[Proc]
) -> dict[str, float]:
    """CPU seconds so far of everything the job runs on, by process ("providers" with
    the commands they ran, "providers (own)" without)."""
    usage = bench.cpu({"operator": [operator], "providers": fleet})
    return {**usage, "seaweedfs": cpu_seconds(store.pid)}


async def _upload_inputs(store: ObjectStore, keys: list[str], size: int) -> None:
    client = store.client()
    gate = asyncio.Semaphore(8)

    async def one(key: str) -> None:
        async with gate:
            # Distinct content per object (no cache hits), streamed in 1 MiB chunks.
            seed = hashlib.sha256(key.encode()).digest() * (MIB // 32)
            chunks = (seed for _ in range(size // MIB))
            await obstore.put_async(client, key, chunks)

    await asyncio.gather(*(one(k) for k in keys))


async def _raw_copy(store: ObjectStore, keys: list[str], root: Path, parallel: int) -> float:
    client = store.client()
    gate = asyncio.Semaphore(parallel)
    (work := root / "raw").mkdir()

    async def one(i: int, key: str) -> None:
        async with gate:
            got = await obstore.get_async(client, key)
            path = work / f"{i}.bin"
            with path.open("wb") as f:
                async for chunk in got.stream(min_chunk_size=MIB):
                    f.write(chunk)
            await obstore.put_async(client, f"raw/{i}.bin", path)
            path.unlink()

    started = time.monotonic()
    await asyncio.gather(*(one(i, k) for i, k in enumerate(keys)))
    return time.monotonic() - started


async def _run_job(
    bench: Bench, namespace: str, name: str, keys: list[str], fleet: list[Proc]
) -> float:
    spec = {
        "items": keys,
        "retry": {"backoffSeconds": 0},
        "files": {"itemInput": {"path": "input.bin"}, "outputs": [{"path": "output.bin"}]},
    }
    job = make_batchjob(name, CAPABILITY).spec(**spec).obj()
    started = time.monotonic()
    await bench.kube.create(BATCHJOBS.path(namespace), job)

    def sample(_: dict[str, Any]) -> None:
        for proc in fleet:
            proc.sample_rss()

    body = await wait_job(bench.kube, namespace, name, within=900, poll=0.5, on_poll=sample)
    seconds = time.monotonic() - started
    if body["status"]["phase"] != "Succeeded":
        raise RuntimeError(f"job {name}: {body['status'].get('phase')}; see the provider logs")
    os.sync()
    return seconds


def unavailable() -> str | None:
    weed = Binaries.locate().weed
    return None if weed.exists() else f"needs SeaweedFS ({weed}): make binaries"
