"""Other schedulers' kinds, through the API server, under the example policies.

Their controllers cannot run here, so the test installs minimal CRDs of those kinds
and writes status in the shapes their controllers document (the samples); the example
policies, bound to a user of this test only, give each object its value.
"""

import asyncio
import json
from collections.abc import Iterator

import pytest

from taskmill.kube import Kube, load_connection
from tests.harness import Cluster
from tests.integration.status.kit import survey_as
from tests.unit.status.scheduler_samples import SAMPLES, SCHEDULERS, example, manifest

pytestmark = pytest.mark.integration


def _crd(api_version: str, kind: str, plural: str) -> dict[str, object]:
    group, version = api_version.split("/")
    metadata: dict[str, object] = {"name": f"{plural}.{group}"}
    if group.endswith((".k8s.io", ".kubernetes.io")):  # as the Spark operator's own CRD
        metadata["annotations"] = {"api-approved.kubernetes.io": "unapproved, test-only"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="session")
def scheduler_crds(cluster: Cluster) -> list[str]:
    items = [_crd(s.api_version, s.kind, s.plural) for s in SCHEDULERS]
    applied = cluster.kubectl(
        *("apply", "--server-side", "--field-manager=taskmill-tests", "-o", "name", "-f", "-"),
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    names = applied.stdout.split()
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    return names


@pytest.fixture
def viewer(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A user whose own policies are the examples, allowed to list those kinds."""
    user = f"scheduler-viewer-{namespace}"
    policies = []
    for scheduler in SCHEDULERS:
        policy = example(scheduler.policy)
        policy["metadata"]["name"] = f"{policy['metadata']['name']}-{namespace}"
        policy["spec"]["subjects"] = [{"kind": "User", "name": user}]
        policies.append(policy)
    rule_groups = sorted({s.api_version.split("/")[0] for s in SCHEDULERS})
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": user},
        "rules": [
            {"apiGroups": rule_groups, "resources": ["*"], "verbs": ["list"]},
            {"apiGroups": ["taskmill.io"], "resources": ["statuspolicies"], "verbs": ["list"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    objects = json.dumps({"apiVersion": "v1", "kind": "List", "items": [*policies, role, binding]})
    cluster.kubectl("create", "-f", "-", input=objects)
    try:
        yield user
    finally:
        cluster.kubectl("delete", "-f", "-", "--wait=false", input=objects, check=False)


def _create_with_status(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Every sample as an object with its status written; name -> expected value."""
    expected = {}

    async def run() -> None:
        async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
            for i, sample in enumerate(SAMPLES):
                s = sample.scheduler
                name = f"{s.kind.lower()}-{i}"
                body = manifest(sample, name)
                del body["metadata"]["creationTimestamp"]
                group, version = s.api_version.split("/")
                base = f"/apis/{group}/{version}/namespaces/{namespace}/{s.plural}"
                created = await kube.create(base, body)
                if sample.status:
                    await kube.merge_patch(
                        f"{base}/{name}/status",
                        {
                            "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                            "status": sample.status,
                        },
                    )
                expected[name] = sample.expected

    asyncio.run(run())
    return expected


def test_other_schedulers_kinds_under_the_example_policies(
    cluster: Cluster, scheduler_crds: list[str], crds: list[str], namespace: str, viewer: str
) -> None:
    expected = _create_with_status(cluster, namespace)
    seen = survey_as(cluster, namespace, viewer)
    assert seen.denied == ["BatchJob.taskmill.io", "Task.taskmill.io", "Job.batch", "CronJob.batch"]
    got = {row.name: str(row.verdict.value) for row in seen.rows}
    assert got == expected
    policies = {row.verdict.policy for row in seen.rows if row.verdict.policy}
    assert policies == {f"{example(s.policy)['metadata']['name']}-{namespace}" for s in SCHEDULERS}
