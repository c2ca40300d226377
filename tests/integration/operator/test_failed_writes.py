"""One refused write never stops the rest of a pass: a ResourceQuota on Tasks."""

import json
import subprocess

from taskmill.api import BatchJob
from tests.harness import Cluster, wait_for
from tests.integration.leasing import LeaseDriver

TIMEOUT = 60
COUNT = "count/tasks.taskmill.io"


def _quota(cluster: Cluster, namespace: str, tasks: int) -> None:
    """A ResourceQuota admitting `tasks` Tasks. The harness runs no quota controller, so
    the quota's status is set here as that controller would; the API server's admission
    plugin then enforces it and counts every admitted create itself."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tasks", "namespace": namespace},
        "spec": {"hard": {COUNT: str(tasks)}},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(quota))
    status = {"status": {"hard": {COUNT: str(tasks)}, "used": {COUNT: "0"}}}
    cluster.kubectl(
        "patch",
        "resourcequota",
        "tasks",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def _create_failed(driver: LeaseDriver, name: str) -> BatchJob | None:
    job = driver.job(name)
    if job is None:
        return None
    found = next((c for c in job.status.conditions if c.type == "CreateFailed"), None)
    return job if found is not None and found.status == "True" else None


def test_a_quota_refusing_creates_leaves_expiry_cancel_status_and_ttl_running(
    cluster: Cluster, driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    _quota(cluster, driver.namespace, 2)
    driver.create_job(
        "quota",
        {
            "capability": "echo",
            "items": [1, 2, 3, 4],
            "lease": {"durationSeconds": 5},
            "retry": {"maxAttempts": 3, "backoffSeconds": 0},
            "ttlSecondsAfterFinished": 1,
        },
    )
    job = wait_for(lambda: _create_failed(driver, "quota"), timeout=TIMEOUT, what="CreateFailed")
    failed = next(c for c in job.status.conditions if c.type == "CreateFailed")
    assert failed.reason == "FailedCreate"
    assert "exceeded quota" in failed.message, failed.message
    assert ("BatchJob", "quota", "FailedCreate") in driver.events()
    assert (job.status.counts.total, len(driver.tasks("quota"))) == (4, 2)

    # Expiry: a claimed task whose holder goes silent is expired while creates fail.
    held = wait_for(lambda: driver.claim_pending("quota", limit=1), timeout=TIMEOUT, what="claim")
    wait_for(
        lambda: driver.task(held[0].name).status.attempts == 1,
        timeout=TIMEOUT,
        what="the silent lease expired",
    )
    # Cancel, status and TTL: the job ends Cancelled and is deleted.
    driver.patch_job("quota", {"cancel": True})
    wait_for(lambda: driver.job("quota") is None, timeout=TIMEOUT, what="cancelled and deleted")


def test_an_admission_policy_refusing_creates_shows_its_message(
    cluster: Cluster, driver: LeaseDriver, operator: subprocess.Popen[bytes]
) -> None:
    """A ValidatingAdmissionPolicy (as a webhook would) refuses Tasks past index 1: the job
    shows the policy's message, and its admitted Tasks still run to the end."""
    name = f"deny-{driver.namespace}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["taskmill.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["tasks"],
                    }
                ]
            },
            "validations": [
                {"expression": "object.spec.index < 2", "message": "only two tasks per job here"}
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": driver.namespace}
                }
            },
        },
    }
    cluster.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [policy, binding]}),
    )
    try:
        wait_for(lambda: _policy_active(cluster, driver.namespace), timeout=TIMEOUT, what="policy")
        _refused_then_run(driver)
    finally:
        cluster.kubectl(
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            name,
            check=False,
        )


def _policy_active(cluster: Cluster, namespace: str) -> bool:
    """The API server loads policies asynchronously: probe with a Task it must refuse."""
    probe = {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {"batchJob": "probe", "index": 2, "capability": "none"},
    }
    created = cluster.kubectl("create", "-f", "-", input=json.dumps(probe), check=False)
    if created.returncode == 0:
        cluster.kubectl("delete", "task", "probe", "-n", namespace)
        return False
    return "only two tasks per job here" in created.stderr


def _refused_then_run(driver: LeaseDriver) -> None:
    driver.create_job("policed", {"capability": "echo", "items": [1, 2, 3]})

    def refused() -> BatchJob | None:
        job = _create_failed(driver, "policed")
        return job if job is not None and len(driver.tasks("policed")) == 2 else None

    job = wait_for(refused, timeout=TIMEOUT, what="CreateFailed")
    failed = next(c for c in job.status.conditions if c.type == "CreateFailed")
    assert "only two tasks per job here" in failed.message, failed.message
    assert driver.run_to_completion("policed") == 2
    wait_for(
        lambda: (j := driver.job("policed")) is not None and j.status.progress == "2/3",
        timeout=TIMEOUT,
        what="2/3 while the third is refused",
    )
