"""The built-in default policy over what the real job and cronjob controllers write.

kube-controller-manager runs the job and cronjob controllers; there is no kubelet, so
the test writes the pods' phase as a kubelet would, and the controllers do the rest.
"""

import json

import pytest

from tests.harness import Cluster
from tests.harness.polling import wait_for
from tests.integration.status.kit import finish_pods, job_manifest, survey_as, values

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


def test_jobs_follow_the_real_job_controller(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    for name, spec in (("ok", {}), ("bad", {}), ("held", {"suspend": True})):
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=job_manifest(name, **spec))

    def seen(expected: dict[str, str]) -> dict[str, str] | None:
        got = values(survey_as(cluster, namespace), "Job")
        return got if got == expected else None

    # The controller created the pods: active, so Running; a suspended Job is OnHold.
    wait_for(
        lambda: seen({"ok": "Running", "bad": "Running", "held": "OnHold"}),
        timeout=TIMEOUT,
        what="the controller to start the Jobs",
    )
    assert finish_pods(cluster, namespace, "ok", "Succeeded")
    assert finish_pods(cluster, namespace, "bad", "Failed")
    wait_for(
        lambda: seen({"ok": "Success", "bad": "Failure", "held": "OnHold"}),
        timeout=TIMEOUT,
        what="the controller to finish the Jobs",
    )
    rows = {r.name: r for r in survey_as(cluster, namespace).rows}
    assert (rows["bad"].verdict.rule, rows["bad"].verdict.reason) == ("failed", "the Job failed")


def test_a_cronjob_follows_its_runs(cluster: Cluster, crds: list[str], namespace: str) -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 0 1 1 *",  # not due during the test: runs come from `create job`
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": _pod_template()}},
        },
    }
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(cronjob))
    assert values(survey_as(cluster, namespace), "CronJob") == {"nightly": "Waiting"}

    # A run of the CronJob (owned by it), driven by the real job controller.
    cluster.kubectl("create", "job", "run-1", "--from=cronjob/nightly", "-n", namespace)
    wait_for(
        lambda: values(survey_as(cluster, namespace), "CronJob") == {"nightly": "Running"},
        timeout=TIMEOUT,
        what="the run to be active",
    )
    wait_for(
        lambda: finish_pods(cluster, namespace, "run-1", "Succeeded"),
        timeout=TIMEOUT,
        what="the run's pod",
    )
    wait_for(
        lambda: values(survey_as(cluster, namespace), "CronJob") == {"nightly": "Success"},
        timeout=TIMEOUT,
        what="the run to succeed",
    )
    cluster.kubectl(
        "patch",
        "cronjob",
        "nightly",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"suspend": true}}',
    )
    assert values(survey_as(cluster, namespace), "CronJob") == {"nightly": "OnHold"}


def _pod_template() -> dict[str, object]:
    return {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "work", "image": "busybox", "command": ["true"]}],
        }
    }
