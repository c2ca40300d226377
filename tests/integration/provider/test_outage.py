"""A control-plane outage on a real API server (the kube-apiserver paused): work that
finished during it is reported afterwards, whatever the holder's own deadline says."""

import sys
from pathlib import Path

import pytest

from taskmill.api.common import TaskPhase
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import (
    Providers,
    apiserver_paused,
    create,
    task_manifest,
    wait_finished,
    wait_task,
)

pytestmark = pytest.mark.integration


def test_work_finished_during_an_outage_is_reported_after_it(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    waits_for_go = [
        sys.executable,
        "-c",
        f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)\nprint('done')",
    ]
    provider = providers.start("outage-1", "work", waits_for_go, lease_seconds=8)
    create(cluster, namespace, task_manifest("o-0", "work", maxAttempts=1))
    wait_task(cluster, namespace, "o-0", "running", lambda t: t.status.phase == TaskPhase.RUNNING)

    with apiserver_paused(cluster):
        go.touch()  # the work finishes while nothing can be written
        # Its report fails at least once (a final write times out after 10 s): by then
        # the holder's own deadline (8 s lease, 2 s kill grace: 5 s after the last
        # renewal was sent) is past, and the old code dropped the result.
        wait_for(
            lambda: "final write failed" in provider.log_text(),
            timeout=60,
            what="the result's write to fail during the outage",
        )

    done = wait_finished(cluster, namespace, "o-0")
    assert done.status.phase == TaskPhase.SUCCEEDED
    assert done.status.result is not None
    assert done.status.result.output == "done\n"
    assert done.status.attempts == 0
