"""Helpers for status tests: survey as a user, act as the kubelet for a Job's pods."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from taskmill.kube import Kube, load_connection
from taskmill.kube.config import Impersonation
from taskmill.status.survey import Survey, survey
from tests.harness import Cluster

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def survey_as(
    cluster: Cluster, namespace: str, user: str | None = None, groups: tuple[str, ...] = ()
) -> Survey:
    """What `user` (default: the admin) sees in `namespace` under their own layers."""
    conn = load_connection(str(cluster.kubeconfig))
    if user is not None:
        conn = replace(conn, impersonate=Impersonation(user, groups))

    async def run() -> Survey:
        async with Kube(conn) as kube:
            return await survey(kube, datetime.now(UTC), namespace=namespace)

    return asyncio.run(run())


def values(seen: Survey, kind: str) -> dict[str, str]:
    return {row.name: str(row.verdict.value) for row in seen.rows if row.kind == kind}


def job_manifest(name: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "work", "image": "busybox", "command": ["true"]}],
                    }
                },
                **spec,
            },
        }
    )


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[str]:
    got = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", f"{JOB_NAME_LABEL}={job}", "-o", "name"
    )
    return got.stdout.split()


def finish_pods(cluster: Cluster, namespace: str, job: str, phase: str) -> bool:
    """Write `phase` into the Job's pods' status, as their kubelet would; False if none yet."""
    pods = pods_of(cluster, namespace, job)
    for pod in pods:
        cluster.kubectl(
            *("patch", pod, "-n", namespace, "--subresource=status", "--type=merge"),
            "-p",
            json.dumps({"status": {"phase": phase}}),
        )
    return bool(pods)
