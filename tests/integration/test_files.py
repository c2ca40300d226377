"""Files through a real S3-compatible store (SeaweedFS), the real API server, operator
and provider processes: inputs staged, outputs collected with a manifest, bad input
failing with a reason that names the file and the store, bad specs refused at admission.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import obstore
import pytest

from taskmill.api.common import TaskPhase
from taskmill.api.task import Task
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.objectstore import ObjectStore
from tests.harness.polling import wait_for
from tests.integration.provider.kit import (
    Providers,
    create,
    list_tasks,
    task_manifest,
    wait_finished,
)

pytestmark = pytest.mark.integration

CAPABILITY = "files.concat"
# Joins the shared model and the item's input into one output, in the working directory.
CONCAT = ["sh", "-c", "mkdir -p out && cat model.bin input.txt > out/joined.txt"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(store: ObjectStore, key: str, data: bytes) -> None:
    obstore.put(store.client(), key, data)


def get(store: ObjectStore, key: str) -> bytes:
    return bytes(obstore.get(store.client(), key).bytes())


def keys_under(store: ObjectStore, prefix: str) -> list[str]:
    return [meta["path"] for batch in obstore.list(store.client(), prefix) for meta in batch]


def test_a_job_stages_inputs_and_collects_outputs_with_a_manifest(
    cluster: Cluster,
    namespace: str,
    providers: Providers,
    object_store: ObjectStore,
    tmp_path: Path,
) -> None:
    model = b"model:" + bytes(range(256)) * 64
    items = {f"{namespace}/in/{n}.txt": f"item {n}\n".encode() for n in ("a", "b", "c")}
    put(object_store, f"{namespace}/model.bin", model)
    for key, data in items.items():
        put(object_store, key, data)
    stores = object_store.stores_file(tmp_path / "stores.yaml")
    providers.start_operator()
    providers.start("p-0", CAPABILITY, CONCAT, concurrency=2, extra=["--stores", str(stores)])
    job = (
        make_batchjob("concat", CAPABILITY)
        .spec(
            items=list(items),
            files={
                "inputs": [{"source": f"{namespace}/model.bin", "path": "model.bin"}],
                "itemInput": {"path": "input.txt"},
                "outputs": [{"path": "out/*.txt"}],
            },
        )
        .obj()
    )
    create(cluster, namespace, job)

    def succeeded() -> list[Task] | None:
        tasks = list_tasks(cluster, namespace)
        done = len(tasks) == 3 and all(t.status.phase == TaskPhase.SUCCEEDED for t in tasks)
        return tasks if done else None

    tasks = wait_for(succeeded, timeout=60, what="three tasks succeeded")
    for task in sorted(tasks, key=lambda t: t.spec.index):
        files = task.status.result.files if task.status.result else None
        assert files is not None, task.status
        source = list(items)[task.spec.index]
        assert [(f.path, f.key, f.size, f.sha256) for f in files.inputs] == [
            ("model.bin", f"{namespace}/model.bin", len(model), sha(model)),
            ("input.txt", source, len(items[source]), sha(items[source])),
        ]
        expected = model + items[source]
        key = f"{namespace}/concat/{task.spec.index}/1/out/joined.txt"
        assert [(f.path, f.key, f.size, f.sha256) for f in files.outputs] == [
            ("out/joined.txt", key, len(expected), sha(expected))
        ]
        assert get(object_store, key) == expected
    log = "".join(p.log_text() for p in providers.started)
    assert object_store.secret_access_key not in log


def files_task(name: str, store: str = "", **files: Any) -> dict[str, Any]:
    spec = {"store": store, "inputs": [], "outputs": [], **files}
    return task_manifest(name, CAPABILITY, maxAttempts=3, backoffSeconds=0, files=spec)


def test_bad_input_fails_the_attempt_naming_the_file_and_the_store(
    cluster: Cluster,
    namespace: str,
    providers: Providers,
    object_store: ObjectStore,
    tmp_path: Path,
) -> None:
    put(object_store, f"{namespace}/model.bin", b"m")
    put(object_store, f"{namespace}/input.txt", b"i")
    good = [
        {"source": f"{namespace}/model.bin", "path": "model.bin"},
        {"source": f"{namespace}/input.txt", "path": "input.txt"},
    ]
    stores = object_store.stores_file(tmp_path / "stores.yaml")
    bad_creds = tmp_path / "bad" / "stores.yaml"
    bad_creds.parent.mkdir()
    object_store.stores_file(bad_creds, name="refusing")
    (bad_creds.parent / "refusing-credentials" / "secretAccessKey").write_text("wrong")
    providers.start("p-0", CAPABILITY, CONCAT, concurrency=4, extra=["--stores", str(stores)])
    # The output the work did write, under a key of its own: it must not be uploaded
    # while another declared output is missing.
    written = {"path": "out/joined.txt", "key": "{namespace}/{task}/{attempt}/{path}"}
    create(
        cluster,
        namespace,
        files_task("missing-input", inputs=[{"source": f"{namespace}/nope.bin", "path": "x"}]),
        # An item's own object: fetched by a GET alone, no lookup before it.
        files_task(
            "missing-item",
            inputs=[{"source": f"{namespace}/nope-item.bin", "path": "x", "shared": False}],
        ),
        files_task(
            "missing-output", inputs=good, outputs=[written, {"path": "out/*.png", "key": "{task}"}]
        ),
        files_task("corrupt", inputs=[{**good[0], "sha256": "0" * 64}, good[1]], outputs=[written]),
        files_task("unknown-store", store="elsewhere", inputs=good),
    )
    for name, key in (("missing-input", "nope.bin"), ("missing-item", "nope-item.bin")):
        missing = wait_finished(cluster, namespace, name)
        # Not retried: another attempt would find it missing too.
        assert (missing.status.phase, missing.status.attempts) == (TaskPhase.FAILED, 1), name
        assert missing.status.result is not None
        assert missing.status.result.reason == "InputMissing"
        assert f"s3://taskmill/{namespace}/{key} in store 'main'" in missing.status.result.message
    output = wait_finished(cluster, namespace, "missing-output")
    assert output.status.phase == TaskPhase.FAILED
    assert output.status.attempts == 3
    assert output.status.result is not None
    assert output.status.result.reason == "OutputMissing"
    assert "'out/*.png'" in output.status.result.message
    assert output.status.result.files is None
    corrupt = wait_finished(cluster, namespace, "corrupt")
    assert (corrupt.status.phase, corrupt.status.attempts) == (TaskPhase.FAILED, 3)
    assert corrupt.status.result is not None
    assert corrupt.status.result.reason == "InputCorrupt"
    message = corrupt.status.result.message
    assert f"s3://taskmill/{namespace}/model.bin in store 'main'" in message
    assert f"differs from {'0' * 64}" in message
    assert corrupt.status.result.files is None
    assert sorted(keys_under(object_store, f"{namespace}/")) == [
        f"{namespace}/input.txt",
        f"{namespace}/model.bin",
    ], "the inputs, and not one output"
    unknown = wait_finished(cluster, namespace, "unknown-store")
    assert unknown.status.result is not None
    assert unknown.status.result.reason == "StoreNotConfigured"
    assert "'elsewhere'" in unknown.status.result.message
    # A provider whose Secret holds the wrong key: the store refuses it.
    providers.start("p-1", "files.refused", CONCAT, extra=["--stores", str(bad_creds)])
    create(
        cluster,
        namespace,
        task_manifest(
            "refused", "files.refused", maxAttempts=1, files={"inputs": good, "outputs": []}
        ),
    )
    refused = wait_finished(cluster, namespace, "refused")
    assert refused.status.result is not None
    assert refused.status.result.reason == "StoreRefused", refused.status.result
    assert "in store 'refusing'" in refused.status.result.message
    assert "wrong" not in refused.status.result.message


# (case, spec.files, what kubectl must print: the field's path and the complaint)
INVALID_FILES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "gs-uri",
        {"inputs": [{"source": "gs://b/k", "path": "a"}]},
        ["spec.files.inputs[0].source", "must be a key in the store's bucket or an s3://"],
    ),
    (
        "absolute-path",
        {"inputs": [{"source": "k", "path": "/etc/passwd"}]},
        ["spec.files.inputs[0].path", "must be relative"],
    ),
    (
        "dot-dot",
        {"outputs": [{"path": "out/../../x"}]},
        ["spec.files.outputs[0].path", "must stay inside the task's working directory"],
    ),
    (
        "unknown-placeholder",
        {"outputs": [{"path": "a", "key": "{job}/{index}/{secret}"}]},
        ["spec.files.outputs[0].key", "may use only the placeholders"],
    ),
    (
        "key-shared-by-tasks",
        {"outputs": [{"path": "a", "key": "{job}/{path}"}]},
        ["spec.files.outputs[0].key", "must contain {index} or {task}"],
    ),
    (
        "bad-store-name",
        {"store": "My_Store"},
        ["spec.files.store", "should match"],
    ),
    (
        "item-input-without-items",
        {"itemInput": {"path": "in"}},
        ["spec.files.itemInput", "applies to spec.items only"],
    ),
]


def test_bad_files_specs_are_refused_at_admission_naming_the_field(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    for case, files, expected in INVALID_FILES:
        job = make_batchjob(case, CAPABILITY).spec(range={"end": 2}, files=files).obj()
        result = cluster.kubectl(
            "apply", "--dry-run=server", "-n", namespace, "-f", "-",
            input=json.dumps(job), check=False,
        )  # fmt: skip
        assert result.returncode != 0, f"{case}: accepted"
        for text in expected:
            assert text in result.stderr, f"{case}: {result.stderr}"


def test_a_result_over_the_inline_limit_is_stored_as_an_object(
    cluster: Cluster,
    namespace: str,
    providers: Providers,
    object_store: ObjectStore,
    tmp_path: Path,
) -> None:
    stores = object_store.stores_file(tmp_path / "stores.yaml")
    # 10 KB of JSON in the result file: over the 4 KiB inline limit.
    write = "import json, os; json.dump({'output': 'x' * 10000, 'message': 'big'}, "
    write += "open(os.environ['TASKMILL_RESULT'], 'w'))"
    big = [sys.executable, "-c", write]
    providers.start("p-0", "files.big", big, extra=["--stores", str(stores)])
    create(cluster, namespace, task_manifest("big", "files.big", batch_job="job", index=4))
    done = wait_finished(cluster, namespace, "big")
    result = done.status.result
    assert result is not None
    assert done.status.phase == TaskPhase.SUCCEEDED, result
    assert result.output == ""
    assert result.message == "big"
    assert result.output_object is not None
    key = f"{namespace}/job/4/1/result"
    assert (result.output_object.key, result.output_object.size) == (key, 10000)
    assert get(object_store, key) == b"x" * 10000
    assert result.output_object.sha256 == sha(b"x" * 10000)
