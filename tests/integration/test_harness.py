"""The control plane the harness starts behaves like a real cluster where tests rely on it."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Binaries, Cluster, procs, wait_for
from tests.harness.controlplane import COMPONENTS, Layout, running_components
from tests.harness.metrics import diff, request_counts
from tests.harness.versions import REPO_ROOT, pinned_versions

OWN_CLUSTER = not os.environ.get("TASKMILL_TEST_KUBECONFIG")
CRD_DIR = REPO_ROOT / "crds"


def _create(cluster: Cluster, manifest: dict[str, Any], *args: str) -> dict[str, Any]:
    created = cluster.kubectl("create", "-o", "json", "-f", "-", *args, input=json.dumps(manifest))
    result: dict[str, Any] = json.loads(created.stdout)
    return result


def _configmap(name: str, namespace: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **metadata},
    }


def _exists(cluster: Cluster, *resource: str) -> bool:
    found = cluster.kubectl("get", *resource, "--ignore-not-found", "-o", "name")
    return bool(found.stdout.strip())


def test_api_server_answers(cluster: Cluster) -> None:
    assert cluster.get("/readyz") == "ok"
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    if OWN_CLUSTER:
        assert version["gitVersion"] == f"v{pinned_versions()['K8S_VERSION']}"


def test_rbac_forbids_a_user_without_bindings(cluster: Cluster, namespace: str) -> None:
    def can_i(*extra: str) -> str:
        result = cluster.kubectl(
            "auth", "can-i", "get", "configmaps", "-n", namespace, *extra, check=False
        )
        return result.stdout.strip()

    assert can_i() == "yes"
    assert can_i("--as=nobody") == "no"
    assert can_i("--as=nobody", "--as-group=system:masters") == "yes"


def test_garbage_collector_deletes_children_of_a_deleted_owner(
    cluster: Cluster, namespace: str
) -> None:
    parent = _create(cluster, _configmap("parent", namespace))
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "parent",
        "uid": parent["metadata"]["uid"],
    }
    _create(cluster, _configmap("child", namespace, ownerReferences=[owner]))

    cluster.kubectl("delete", "configmap", "parent", "-n", namespace)

    wait_for(
        lambda: not _exists(cluster, "configmap", "child", "-n", namespace),
        timeout=60,
        what="the garbage collector to delete the child",
    )


def test_deleted_namespace_is_emptied_and_removed(cluster: Cluster) -> None:
    name = f"doomed-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    _create(cluster, _configmap("content", name))

    cluster.kubectl("delete", "namespace", name, "--wait=false")

    wait_for(
        lambda: not _exists(cluster, "namespace", name),
        timeout=60,
        what=f"namespace {name} to be deleted",
    )


def test_service_account_tokens_are_issued_and_accepted(cluster: Cluster, namespace: str) -> None:
    wait_for(
        lambda: _exists(cluster, "serviceaccount", "default", "-n", namespace),
        timeout=30,
        what="the default service account",
    )
    token = cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()

    review = _create(
        cluster,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )

    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:default"


def test_validating_admission_policy_is_enforced(cluster: Cluster, namespace: str) -> None:
    name = f"{namespace}-no-forbidden-label"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.metadata.labels)"
                    " || !('forbidden' in object.metadata.labels)",
                    "message": "the forbidden label is forbidden",
                }
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
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    attempts = iter(range(1000))

    def rejected() -> bool:
        probe = _configmap(f"probe-{next(attempts)}", namespace, labels={"forbidden": "yes"})
        result = cluster.kubectl("create", "-f", "-", input=json.dumps(probe), check=False)
        return result.returncode != 0 and "the forbidden label is forbidden" in result.stderr

    _create(cluster, policy)
    try:
        _create(cluster, binding)
        # Policies take effect once the apiserver's informers have seen them.
        wait_for(rejected, timeout=30, what="the policy to reject a labelled ConfigMap")
        _create(cluster, _configmap("unlabelled", namespace))
    finally:
        cluster.kubectl(
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            name,
            "--ignore-not-found",
            check=False,
        )


def test_metrics_count_the_requests_made(cluster: Cluster, namespace: str) -> None:
    before = request_counts(cluster.metrics())
    for _ in range(3):
        cluster.kubectl("get", "configmaps", "-n", namespace)

    made = diff(before, request_counts(cluster.metrics()))

    assert made[("LIST", "configmaps", "")] >= 3


def _small_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def test_apply_crds_waits_until_established(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    group = f"t{secrets.token_hex(4)}.taskmill.test"  # unique: CRDs are cluster-wide
    path = tmp_path / "crd.yaml"
    path.write_text(json.dumps(_small_crd(group)))
    try:
        names = cluster.apply_crds([path])
        assert names == [f"customresourcedefinition.apiextensions.k8s.io/widgets.{group}"]
        # No retry: Established means the new kind is served.
        _create(
            cluster,
            {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": namespace},
                "spec": {"size": 3},
            },
        )
    finally:
        cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def test_crds_fixture_applies_every_file_in_crds(cluster: Cluster, crds: list[str]) -> None:
    assert len(crds) == len(list(CRD_DIR.glob("*.yaml")))
    for name in crds:
        established = cluster.kubectl(
            "get", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        )
        assert established.stdout == "True"


@pytest.mark.skipif(
    bool(Binaries.locate().missing(["kube", "etcd"])), reason="control-plane binaries not built"
)
def test_cli_up_then_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "state"

    def harness(command: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [sys.executable, "-m", "tests.harness", command, "--state-dir", str(state)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    try:
        up = harness("up")
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={state}/kubeconfig" in up.stdout
        # The components outlive the `up` process, and a second `up` reuses them.
        assert len(running_components(state)) == len(COMPONENTS)
        assert harness("status").returncode == 0
        again = harness("up")
        assert "already up" in again.stderr, again.stderr
    finally:
        down = harness("down")
    assert down.returncode == 0, down.stderr
    assert list(procs.find(COMPONENTS, Layout(state).marker)) == []
    assert harness("status").returncode == 1
    assert "not running" in harness("down").stderr
