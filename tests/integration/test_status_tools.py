"""The status compute_status writes, read by real tools on a real API server.

The pure tests check conditions against a model of kubectl wait and kstatus; these
check the real kubectl against the real CRD schema: the conditions are admitted,
`kubectl wait` accepts them only for the current generation, the printer columns
show the normalized status, and a status read back compares equal to the one written.
"""

import json
from datetime import timedelta

import pytest
from taskmill.operator.jobstatus import JobFacts, compute_status, status_changed

from taskmill.api import BatchJob, TaskCounts
from tests.builders import make_batchjob
from tests.harness import Cluster

pytestmark = pytest.mark.integration

NAME = "status-job"


def _create(cluster: Cluster, namespace: str) -> None:
    manifest = make_batchjob(NAME).namespace(namespace).items("a", "b", "c").obj()
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def _read(cluster: Cluster, namespace: str) -> BatchJob:
    body = cluster.kubectl("get", "batchjob", NAME, "-n", namespace, "-o", "json").stdout
    return BatchJob.model_validate(json.loads(body))


def _write_status(cluster: Cluster, namespace: str, job: BatchJob, counts: TaskCounts) -> BatchJob:
    created = job.metadata.creation_timestamp
    assert created is not None
    facts = JobFacts(providers_available=True, first_start_time=created)
    status = compute_status(job, counts, facts, [], created + timedelta(seconds=5))
    patch = json.dumps({"status": status.wire()})
    cluster.kubectl(
        "patch", "batchjob", NAME, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", patch,
    )  # fmt: skip
    reread = _read(cluster, namespace)
    assert not status_changed(status, reread.status)
    return reread


def _wait(cluster: Cluster, namespace: str, condition: str, timeout: str) -> bool:
    result = cluster.kubectl(
        "wait", f"--for=condition={condition}", f"batchjob/{NAME}", "-n", namespace,
        f"--timeout={timeout}", check=False,
    )  # fmt: skip
    return result.returncode == 0


def test_kubectl_wait_for_complete_holds_only_for_the_current_generation(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    _create(cluster, namespace)
    job = _read(cluster, namespace)

    running = _write_status(cluster, namespace, job, TaskCounts(total=3, leased=1, pending=2))
    assert _wait(cluster, namespace, "Reconciling", "10s")
    assert not _wait(cluster, namespace, "Complete", "1s")
    line = cluster.kubectl("get", "batchjob", NAME, "-n", namespace, "--no-headers").stdout
    assert line.split()[1:3] == ["Running", "0/3"]

    done = _write_status(cluster, namespace, running, TaskCounts(total=3, succeeded=3))
    assert _wait(cluster, namespace, "Complete", "10s")
    assert _wait(cluster, namespace, "Reconciling=False", "10s")
    assert _wait(cluster, namespace, "Stalled=False", "10s")
    line = cluster.kubectl("get", "batchjob", NAME, "-n", namespace, "--no-headers").stdout
    assert line.split()[1:3] == ["Success", "3/3"]

    # A spec change bumps the generation: the old Complete no longer counts...
    cluster.kubectl(
        "patch", "batchjob", NAME, "-n", namespace, "--type=merge", "-p",
        '{"spec": {"suspend": true}}',
    )  # fmt: skip
    bumped = _read(cluster, namespace)
    assert bumped.metadata.generation == done.metadata.generation + 1
    assert not _wait(cluster, namespace, "Complete", "1s")

    # ...until the status is computed for the new generation.
    _write_status(cluster, namespace, bumped, TaskCounts(total=3, succeeded=3))
    assert _wait(cluster, namespace, "Complete", "10s")


def test_a_failed_job_is_stalled_and_not_complete(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    _create(cluster, namespace)
    job = _read(cluster, namespace)

    failed = _write_status(cluster, namespace, job, TaskCounts(total=3, succeeded=2, failed=1))

    assert failed.status.phase == "Failed"
    assert _wait(cluster, namespace, "Failed", "10s")
    assert _wait(cluster, namespace, "Stalled", "10s")
    assert _wait(cluster, namespace, "Reconciling=False", "10s")
    assert not _wait(cluster, namespace, "Complete", "1s")
