"""The example providers (examples/providers/) run real jobs end to end.

The operator and providers are started exactly as `make demo` starts them
(tests.harness.demo.spawn_children), here in the test's own namespace on the session
cluster and object store, over a few generated files under the namespace's own keys,
with batches the demo does not use.
"""

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest

from taskmill.api.meta import PROVIDER_LEASE_PREFIX
from tests.builders import make_batchjob
from tests.harness import Cluster, wait_for
from tests.harness.demo import (
    input_texts,
    provider_leases,
    spawn_children,
    stop_children,
    upload_inputs,
)
from tests.harness.objectstore import ObjectStore

FILES = 8
ITEM_INPUT = {"path": "input/{position}/{name}"}


@pytest.fixture
def texts(
    cluster: Cluster,
    crds: list[str],
    namespace: str,
    object_store: ObjectStore,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """Inputs in the store under the namespace's keys, and the operator and providers
    running; the texts by key."""
    texts = {f"{namespace}/{key}": text for key, text in input_texts(FILES).items()}
    upload_inputs(object_store, texts)
    stores = object_store.stores_file(tmp_path / "work" / "stores.yaml")
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, proc in spawn_children(namespace, cluster.env, stores, tmp_path):
            started[name] = proc
        leases = {f"{PROVIDER_LEASE_PREFIX}demo-{name}" for name in started if name != "operator"}
        wait_for(
            lambda: leases <= provider_leases(cluster, namespace),
            timeout=60,
            what="the example providers to announce themselves",
        )
        yield texts
    finally:
        stop_children(started)
        for log in sorted(tmp_path.glob("demo-*.log")):  # shown when the test fails
            print(f"--- {log.name}\n{log.read_text()[-5000:]}")


def get(cluster: Cluster, namespace: str, *what: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout
    )
    return found


def read(store: ObjectStore, key: str) -> str:
    return bytes(obstore.get(store.client(), key).bytes()).decode()


def sha256_line(key: str, text: str) -> str:
    return f"{hashlib.sha256(text.encode()).hexdigest()}  {key}\n"


def test_example_providers_hash_count_and_summarise_files(
    cluster: Cluster, namespace: str, object_store: ObjectStore, texts: dict[str, str]
) -> None:
    keys = sorted(texts)
    no_retry = {"maxAttempts": 1}
    hashes = {
        "itemInput": ITEM_INPUT,
        "outputs": [{"path": "hashes.sha256", "key": "{namespace}/hashes/{job}-{index}.sha256"}],
    }
    jobs = [
        # 7 files in batches of 3: the command gets `items`.
        make_batchjob("hash", "demo.sha256")
        .spec(items=keys[:7], batchSize=3, params={"output": "hashes.sha256"}, files=hashes)
        .obj(),
        make_batchjob("stats", "demo.wordcount")
        .spec(
            items=keys,
            batchSize=4,
            files={"itemInput": ITEM_INPUT, "outputs": [{"path": "stats/*.json"}]},
        )
        .obj(),
        # Fails unless it runs after all of `hash`: it expects all 7 checksums.
        make_batchjob("sums", "demo.sha256sums")
        .spec(
            dependsOn=["hash"],
            tasks=[{"name": "sums", "params": {"expect": 7}}],
            retry=no_retry,
            files={
                "inputs": [{"source": f"{namespace}/hashes/", "path": "hashes"}],
                "outputs": [{"path": "SHA256SUMS"}],
            },
        )
        .obj(),
        # An object that does not exist: the task fails without running the command.
        make_batchjob("missing", "demo.sha256")
        .spec(items=[f"{namespace}/input/none.txt"], files=hashes)
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
    assert first_batch["output"] == "".join(sha256_line(k, texts[k]) for k in keys[:3])
    all_sums = "".join(sha256_line(k, texts[k]) for k in keys[:7])
    sums = get(cluster, namespace, "task", "sums-0")["status"]["result"]
    assert sums["output"].startswith("7 checksums")
    assert [o["key"] for o in sums["files"]["outputs"]] == [f"{namespace}/sums/0/1/SHA256SUMS"]
    assert read(object_store, sums["files"]["outputs"][0]["key"]) == all_sums

    words = 0
    stats_0 = get(cluster, namespace, "task", "stats-0")["status"]["result"]
    for record, key in zip(stats_0["files"]["outputs"], keys[:4], strict=True):
        stats = json.loads(read(object_store, record["key"]))
        text = texts[key]
        assert stats["file"] == key
        assert (stats["lines"], stats["words"]) == (len(text.splitlines()), len(text.split()))
        words += len(text.split())
    assert json.loads(stats_0["output"]) == {"files": 4, "words": words}

    missing = get(cluster, namespace, "task", "missing-0")["status"]
    assert (missing["phase"], missing["result"]["reason"]) == ("Failed", "InputMissing")
