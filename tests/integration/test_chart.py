"""charts/taskmill installed into the real API server: objects, RBAC and admission policy.

There is no kubelet, so the pods never run; what is tested is that the API server
accepts every object, that the RBAC it grants is what the chart promises (checked
with `kubectl auth can-i --as`), and that the ValidatingAdmissionPolicy rejects a
provider writing another pod's lease (impersonating the pod-name extra that bound
service-account tokens carry).
"""

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from taskmill.api.protocol import Fence, Patch, claim, fail_attempt, run_first, started_at, succeed
from taskmill.api.statuspolicy import StatusPolicy
from taskmill.api.task import Task, TaskResult
from taskmill.kube.config import load_connection
from taskmill.status import default_policy_text
from tests.harness import Cluster
from tests.harness.polling import wait_for
from tests.unit.chart.helm import CHART, KUBE_VERSION, helm, values_file

RELEASE = "tm"
CAPABILITY = "demo.echo"
VALUES = {
    # The session's CRDs are shared by every test and applied by the `crds` fixture.
    "crds": {"install": False},
    "metrics": {"enabled": True},
    "providers": {
        "pools": [{"name": "echo", "capabilities": [CAPABILITY], "command": ["cat"]}],
    },
    # Its ConfigMap, and the pool's volumes and mounts of it and of the Secret.
    "objectStores": {
        "stores": {
            "main": {
                "endpoint": "http://objects.example:8333",
                "bucket": "taskmill",
                "credentialsSecret": "store-main",
            }
        }
    },
}
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"


@dataclass(frozen=True)
class Install:
    cluster: Cluster
    namespace: str
    manifest: list[dict[str, Any]]
    crds: list[str]  # the generated CRDs' names

    @property
    def provider(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{RELEASE}-taskmill-provider"

    @property
    def operator(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{RELEASE}-taskmill-operator"

    def can_i(self, user: str, verb: str, resource: str, subresource: str = "") -> bool:
        args = ["auth", "can-i", verb, resource, "-n", self.namespace, f"--as={user}"]
        if subresource:
            args.append(f"--subresource={subresource}")
        done = self.cluster.kubectl(*args, check=False)
        assert done.stdout.strip() in ("yes", "no"), done.stderr
        return done.stdout.strip() == "yes"

    def as_provider_pod(self, pod: str | None) -> list[str]:
        extra = [f"--as-user-extra={POD_NAME_EXTRA}={pod}"] if pod else []
        return [f"--as={self.provider}", *extra]


@pytest.fixture
def install(cluster: Cluster, crds: list[str], namespace: str) -> Iterator[Install]:
    with values_file(VALUES) as path:
        done = helm(
            *("install", RELEASE, str(CHART), "--namespace", namespace, "--skip-crds"),
            *("--values", str(path), "--wait=false"),
            env=cluster.env,
        )
    assert done.returncode == 0, done.stderr
    try:
        manifest = helm("get", "manifest", RELEASE, "-n", namespace, env=cluster.env)
        objects = [doc for doc in yaml.safe_load_all(manifest.stdout) if doc]
        yield Install(cluster, namespace, objects, [n.split("/")[-1] for n in crds])
    finally:
        # Cluster-scoped objects (ClusterRole, policies) outlive the namespace otherwise.
        helm("uninstall", RELEASE, "-n", namespace, "--wait=false", env=cluster.env)


def test_every_rendered_object_is_accepted(install: Install) -> None:
    kinds = {o["kind"] for o in install.manifest}
    assert {
        "Deployment",
        "ValidatingAdmissionPolicy",
        "ClusterRole",
        "Service",
        "ConfigMap",
    } <= kinds

    for obj in install.manifest:
        namespace = obj["metadata"].get("namespace")
        scope = ["-n", namespace] if namespace else []
        got = install.cluster.kubectl(
            "get", obj["kind"], obj["metadata"]["name"], *scope, "-o", "name"
        )
        assert got.stdout.strip(), obj["metadata"]["name"]
    # The default StatusPolicy is a hook (not in the manifest): created after its CRD.
    policy = install.cluster.kubectl("get", "statuspolicy", "default", "-o", "json").stdout
    builtin = yaml.safe_load(default_policy_text())
    assert StatusPolicy.model_validate(json.loads(policy)).spec == (
        StatusPolicy.model_validate(builtin).spec
    )

    # The CRDs are the session's (crds.install=false above); the chart's templated copy
    # must be accepted as an update of them.
    crds = helm(
        *("template", RELEASE, str(CHART), "-n", install.namespace),
        *("--show-only", "templates/crds.yaml", "--kube-version", KUBE_VERSION),
        env=install.cluster.env,
    )
    assert crds.returncode == 0, crds.stderr
    applied = install.cluster.kubectl(
        *("apply", "--server-side", "--dry-run=server", "--force-conflicts"),
        *("--field-manager=chart-test", "-o", "name", "-f", "-"),
        input=crds.stdout,
    )
    assert sorted(applied.stdout.split()) == sorted(
        f"customresourcedefinition.apiextensions.k8s.io/{name}" for name in install.crds
    )


def test_provider_rbac_allows_status_patches_and_nothing_else(install: Install) -> None:
    can_i = install.can_i
    provider = install.provider

    assert can_i(provider, "patch", "tasks.taskmill.io", "status")
    assert can_i(provider, "watch", "tasks.taskmill.io")
    assert can_i(provider, "create", "leases.coordination.k8s.io")
    assert not can_i(provider, "update", "tasks.taskmill.io")
    assert not can_i(provider, "patch", "tasks.taskmill.io")
    assert not can_i(provider, "update", "tasks.taskmill.io", "status")
    assert not can_i(provider, "create", "batchjobs.taskmill.io")
    assert not can_i(provider, "get", "batchjobs.taskmill.io")
    assert not can_i(provider, "get", "secrets")
    assert not can_i(provider, "list", "secrets")


def test_operator_rbac_covers_its_writes_but_not_secrets(install: Install) -> None:
    can_i = install.can_i
    operator = install.operator

    assert can_i(operator, "create", "tasks.taskmill.io")
    assert can_i(operator, "delete", "tasks.taskmill.io")
    assert not can_i(operator, "deletecollection", "tasks.taskmill.io")  # never used
    assert can_i(operator, "patch", "batchjobs.taskmill.io", "status")
    assert can_i(operator, "create", "events")
    assert can_i(operator, "update", "leases.coordination.k8s.io")
    assert not can_i(operator, "create", "batchjobs.taskmill.io")
    assert not can_i(operator, "get", "secrets")
    # ProviderPools: the target's /scale, drain marks, deletion cost, dead providers' pods.
    assert can_i(operator, "patch", "providerpools.taskmill.io", "status")
    assert can_i(operator, "patch", "deployments.apps", "scale")
    assert not can_i(operator, "patch", "deployments.apps")
    assert can_i(operator, "delete", "pods")
    assert not can_i(operator, "create", "pods")


def _create_task(install: Install, name: str, **spec: Any) -> Task:
    body = {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name, "namespace": install.namespace},
        "spec": {"batchJob": "job", "index": 0, "capability": CAPABILITY, **spec},
    }
    created = install.cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(body))
    return Task.model_validate(json.loads(created.stdout))


@dataclass(frozen=True)
class Reply:
    status: int
    body: str

    @property
    def message(self) -> str:
        """The message of an error Status (empty for a success)."""
        return str(json.loads(self.body).get("message", "")) if self.status >= 400 else ""


def _patch_status(
    install: Install,
    name: str,
    patch: Patch,
    *,
    pod: str | None,
    dry_run: bool = False,
    user: str = "",
) -> Reply:
    """PATCH tasks/status as a provider pod (or `user`), as providers do: one blind JSON patch.

    (kubectl patch GETs the subresource first, which providers may not do.)
    """
    conn = load_connection(str(install.cluster.kubeconfig))
    path = f"/apis/taskmill.io/v1alpha1/namespaces/{install.namespace}/tasks/{name}/status"
    request = urllib.request.Request(
        conn.server + path + ("?dryRun=All" if dry_run else ""),
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={
            "Content-Type": "application/json-patch+json",
            "Impersonate-User": user or install.provider,
        },
    )
    if pod:
        request.add_header(f"Impersonate-Extra-{quote(POD_NAME_EXTRA, safe='')}", pod)
    authorization = conn.authorization()
    if authorization:
        request.add_header("Authorization", authorization)
    context = conn.ssl_context if isinstance(conn.ssl_context, ssl.SSLContext) else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode())


def _claim_for(task: Task, holder: str, capabilities: list[str]) -> Patch:
    now = datetime.now(UTC)
    return claim(task, holder, capabilities, now, duration_seconds=30, renew_interval_seconds=10)


def _wait_for_the_lease_policy(install: Install, task: Task) -> None:
    """Policies reach the admission plugin asynchronously: wait (with dry runs, which
    change nothing) until claiming for another pod is refused by this policy."""
    name = task.metadata.name

    def refused_for_pod_b() -> bool:
        claim_b = _claim_for(task, "pod-b", [CAPABILITY])
        attempt = _patch_status(install, name, claim_b, pod="pod-a", dry_run=True)
        return attempt.status == 403 and "may only claim a free lease" in attempt.message

    wait_for(refused_for_pod_b, timeout=30, what="the task-lease admission policy to be active")


def test_admission_policy_ties_lease_writes_to_the_token_pod_name(install: Install) -> None:
    task = _create_task(install, "job-0")
    _wait_for_the_lease_policy(install, task)

    stolen = _patch_status(install, "job-0", _claim_for(task, "pod-b", [CAPABILITY]), pod="pod-a")
    assert stolen.status == 403
    assert "provider pod pod-a may only claim a free lease for itself" in stolen.message
    assert 'lease holder: "" -> "pod-b"' in stolen.message

    unbound = _patch_status(install, "job-0", _claim_for(task, "pod-a", [CAPABILITY]), pod=None)
    assert unbound.status == 403
    assert "service-account token bound to a pod" in unbound.message

    incapable = _patch_status(install, "job-0", _claim_for(task, "pod-a", ["other"]), pod="pod-a")
    assert incapable.status == 403
    assert f"must claim capability {CAPABILITY}" in incapable.message

    claimed = _patch_status(install, "job-0", _claim_for(task, "pod-a", [CAPABILITY]), pod="pod-a")
    assert claimed.status == 200, claimed.body
    held = Task.model_validate_json(claimed.body)
    assert held.status.lease.holder == "pod-a"

    # Another pod of the same pool cannot write pod-a's lease, e.g. renew it.
    renew = [{"op": "add", "path": "/status/lease/renewTime", "value": "2030-01-01T00:00:00Z"}]
    hijack = _patch_status(install, "job-0", renew, pod="pod-b")
    assert hijack.status == 403
    assert "provider pod pod-b may only" in hijack.message
    assert _patch_status(install, "job-0", renew, pod="pod-a").status == 200

    # The operator is outside the policy: it may expire pod-a's lease.
    fence = Fence("pod-a", held.status.lease.epoch)
    expire = fail_attempt(held, fence, datetime.now(UTC), outcome="Expired", reason="LeaseExpired")
    expired = _patch_status(install, "job-0", expire, pod=None, user=install.operator)
    assert expired.status == 200, expired.body
    assert Task.model_validate_json(expired.body).status.lease.holder == ""


def _run_first_for(task: Task, holder: str) -> Patch:
    now = datetime.now(UTC)
    claimed, fencing = run_first(task, holder, now)
    return [*succeed(claimed, fencing, now, TaskResult(exit_code=0)), started_at(now)]


def test_admission_policy_takes_a_run_first_write_only_in_the_writers_name(
    install: Install,
) -> None:
    task = _create_task(install, "job-1", claim="Optimistic", timeoutSeconds=5)
    _wait_for_the_lease_policy(install, task)

    forged = _patch_status(install, "job-1", _run_first_for(task, "pod-b"), pod="pod-a")
    assert forged.status == 403, forged.body
    assert "provider pod pod-a may only claim a free lease for itself" in forged.message

    own = _patch_status(install, "job-1", _run_first_for(task, "pod-a"), pod="pod-a")
    assert own.status == 200, own.body
    done = Task.model_validate_json(own.body)
    assert (done.status.phase, done.status.history[-1].holder) == ("Succeeded", "pod-a")

    # A Lease-mode task is never claimed and reported in one write, by anyone.
    plain = _create_task(install, "job-2")
    refused = _patch_status(install, "job-2", _run_first_for(plain, "pod-a"), pod="pod-a")
    assert refused.status in (403, 422), refused.body


def _presence_lease(name: str, holder: str) -> str:
    return json.dumps(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "labels": {"taskmill.io/provider": "true"}},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
        }
    )


def test_admission_policy_limits_providers_to_their_own_presence_lease(install: Install) -> None:
    as_pod_a = install.as_provider_pod("pod-a")
    create = ("create", "-n", install.namespace, "-f", "-")

    def refused() -> bool:
        attempt = install.cluster.kubectl(
            *create,
            *as_pod_a,
            "--dry-run=server",
            input=_presence_lease("taskmill-provider-pod-b", "pod-b"),
            check=False,
        )
        return attempt.returncode != 0 and "may only write its own presence Lease" in attempt.stderr

    wait_for(refused, timeout=30, what="the presence admission policy to be active")

    own = install.cluster.kubectl(
        *create, *as_pod_a, input=_presence_lease("taskmill-provider-pod-a", "pod-a"), check=False
    )
    assert own.returncode == 0, own.stderr
    other_holder = install.cluster.kubectl(
        "patch",
        "lease",
        "taskmill-provider-pod-a",
        "-n",
        install.namespace,
        "--type=merge",
        "-p",
        '{"spec": {"holderIdentity": "pod-b"}}',
        *as_pod_a,
        check=False,
    )
    assert other_holder.returncode != 0
    assert "must name its pod as holderIdentity" in other_holder.stderr
    deleted = install.cluster.kubectl(
        "delete",
        "lease",
        "taskmill-provider-pod-a",
        "-n",
        install.namespace,
        *install.as_provider_pod("pod-b"),
        check=False,
    )
    assert deleted.returncode != 0
    assert "may only write its own presence Lease" in deleted.stderr
