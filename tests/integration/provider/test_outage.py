"""A control-plane outage on a real API server (the kube-apiserver paused): work that
finished during it is reported afterwards, whatever the holder's own deadline says."""

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskmill.api.common import TaskPhase
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import (
    Providers,
    apiserver_paused,
    create,
    get_task,
    process_alive,
    running_with_pids,
    task_manifest,
    wait_finished,
    wait_task,
    write_pid_command,
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


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_hung_renewal_does_not_let_the_work_outlive_the_lease(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    # 8 s lease, 2 s kill grace: renewed every 2 s, given up 5 s after the last renewal
    # was sent, so the command is dead, SIGKILL included, before the lease can end. The
    # lease is bound to the presence Lease: the renewals that hang are the presence's.
    providers.start("hung-1", "work", write_pid_command(tmp_path, 300), lease_seconds=8)
    create(cluster, namespace, task_manifest("h-0", "work"))
    pids = running_with_pids(tmp_path, "h-0")
    with apiserver_paused(cluster):  # renewals hang rather than fail
        wait_for(
            lambda: not any(process_alive(pid) for pid in pids),
            timeout=60,
            interval=0.05,
            what="the command to be stopped",
        )
        stopped = datetime.now(UTC)
    task = get_task(cluster, namespace, "h-0")
    lease = task.status.lease
    assert lease.renew_time is not None
    assert lease.presence_instance  # kept alive by the presence Lease's renewals
    presence = json.loads(
        cluster.kubectl(
            "get", "lease", "taskmill-provider-hung-1", "-n", namespace, "-o", "json"
        ).stdout
    )
    assert presence["metadata"]["annotations"]["taskmill.io/instance"] == lease.presence_instance
    renewed = max(lease.renew_time, parse_time(presence["spec"]["renewTime"]))
    # Safety, not speed: the work ended while the lease was still its holder's.
    assert stopped < renewed + timedelta(seconds=8)
