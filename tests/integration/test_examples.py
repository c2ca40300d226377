"""The example providers (examples/providers/) run real jobs end to end.

The operator and providers are started exactly as `make demo` starts them
(tests.harness.demo.spawn_children), here in the test's own namespace on the session
cluster, over a few generated files, with batched params the demo does not use.
"""

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskmill.api.meta import PROVIDER_LEASE_PREFIX
from tests.builders import make_batchjob
from tests.harness import Cluster, wait_for
from tests.harness.demo import (
    INPUT_NAME,
    provider_leases,
    spawn_children,
    stop_children,
    write_inputs,
)

FILES = 8
PATH = f"input/{INPUT_NAME}"


@pytest.fixture
def work_dir(cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path) -> Iterator[Path]:
    """Inputs in a working directory, and the operator and providers running in it."""
    work = tmp_path / "work"
    write_inputs(work / "input", FILES)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, proc in spawn_children(namespace, cluster.env, work, tmp_path):
            started[name] = proc
        leases = {f"{PROVIDER_LEASE_PREFIX}demo-{name}" for name in started if name != "operator"}
        wait_for(
            lambda: leases <= provider_leases(cluster, namespace),
            timeout=60,
            what="the example providers to announce themselves",
        )
        yield work
    finally:
        stop_children(started)
        for log in sorted(tmp_path.glob("demo-*.log")):  # shown when the test fails
            print(f"--- {log.name}\n{log.read_text()[-5000:]}")


def get(cluster: Cluster, namespace: str, *what: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout
    )
    return found


def sha256_line(work: Path, index: int) -> str:
    name = PATH.format(index=index)
    return f"{hashlib.sha256((work / name).read_bytes()).hexdigest()}  {name}\n"


def test_example_providers_hash_count_and_summarise_files(
    cluster: Cluster, namespace: str, work_dir: Path
) -> None:
    no_retry = {"maxAttempts": 1}
    jobs = [
        # 7 files in batches of 3: the command gets `indexes`.
        make_batchjob("hash", "demo.sha256")
        .spec(range={"end": 7}, batchSize=3, params={"path": PATH, "output": "hashes"})
        .obj(),
        make_batchjob("stats", "demo.wordcount")
        .spec(range={"end": FILES}, batchSize=4, params={"path": PATH, "output": "output"})
        .obj(),
        # Fails unless it runs after all of `hash`: it expects all 7 checksums.
        make_batchjob("sums", "demo.sha256sums")
        .spec(
            dependsOn=["hash"],
            tasks=[{"name": "sums", "params": {"hashes": "hashes", "expect": 7}}],
            retry=no_retry,
        )
        .obj(),
        # A file that does not exist: the command exits non-zero.
        make_batchjob("missing", "demo.sha256")
        .spec(range={"start": 100, "end": 101}, params={"path": PATH}, retry=no_retry)
        .obj(),
    ]
    listing = {"apiVersion": "v1", "kind": "List", "items": jobs}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(listing))

    def phases() -> dict[str, str] | None:
        items = get(cluster, namespace, "batchjobs")["items"]
        found = {job["metadata"]["name"]: job.get("status", {}).get("phase") for job in items}
        finished = all(phase in ("Succeeded", "Failed") for phase in found.values())
        return found if finished else None

    final = wait_for(phases, timeout=120, what="every job to finish")
    assert final == {
        "hash": "Succeeded",
        "stats": "Succeeded",
        "sums": "Succeeded",
        "missing": "Failed",
    }

    first_batch = get(cluster, namespace, "task", "hash-0")["status"]["result"]
    assert first_batch["output"] == "".join(sha256_line(work_dir, i) for i in range(3))
    all_sums = "".join(sha256_line(work_dir, i) for i in range(7))
    assert (work_dir / "hashes" / "SHA256SUMS").read_text() == all_sums
    summary = get(cluster, namespace, "task", "sums-0")["status"]["result"]["output"]
    assert summary.startswith("7 checksums")

    words = 0
    for index in range(4):
        name = Path(PATH.format(index=index))
        text = (work_dir / name).read_text()
        stats = json.loads((work_dir / "output" / f"{name.stem}.json").read_text())
        assert (stats["lines"], stats["words"]) == (len(text.splitlines()), len(text.split()))
        words += len(text.split())
    stats_0 = get(cluster, namespace, "task", "stats-0")["status"]["result"]["output"]
    assert json.loads(stats_0) == {"files": 4, "words": words}

    missing = get(cluster, namespace, "task", "missing-0")["status"]
    assert (missing["phase"], missing["result"]["reason"]) == ("Failed", "NonZeroExit")
