"""A Python SDK provider: progress through renewals, return values, handler errors."""

import json
from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
from tests.integration.provider.kit import Providers, create, task_manifest, wait_task

pytestmark = pytest.mark.integration


def test_sdk_handlers(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    seen = tmp_path / "workdir"
    sdk = providers.start("sdk-1", "", [], module="tests.integration.provider.sdk_app")
    create(
        cluster,
        namespace,
        task_manifest("sum", "sdk.sum", params={"numbers": [1, 2, 3], "go": str(go)}),
        task_manifest("fail", "sdk.fail", index=1, params={"why": "nope"}, maxAttempts=1),
        task_manifest(
            "exit", "sdk.exit", index=2, params={"code": 3, "seen": str(seen)}, maxAttempts=1
        ),
    )
    running = wait_task(
        cluster,
        namespace,
        "sum",
        "progress reported",
        lambda t: t.status.progress is not None and t.status.progress.percent == 50,
    )
    assert running.status.progress is not None
    assert running.status.progress.message == "halfway"
    go.touch()
    done = wait_task(
        cluster, namespace, "sum", "succeeded", lambda t: t.status.phase == "Succeeded"
    )
    assert done.status.result is not None
    assert json.loads(done.status.result.output) == {"sum": 6}

    failed = wait_task(cluster, namespace, "fail", "failed", lambda t: t.status.phase == "Failed")
    assert failed.status.result is not None
    assert failed.status.result.reason == "HandlerError"
    assert failed.status.result.message == "ValueError: nope"
    assert "Traceback" in failed.status.result.output

    exited = wait_task(cluster, namespace, "exit", "failed", lambda t: t.status.phase == "Failed")
    assert exited.status.result is not None
    assert (exited.status.result.reason, exited.status.result.message) == (
        "HandlerError",
        "SystemExit: 3",
    )
    assert not Path(seen.read_text()).exists()  # its working directory is gone
    assert sdk.proc.poll() is None  # the provider serves on

    assert sdk.terminate() == 0
