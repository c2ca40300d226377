"""Operator and provider authenticate with service-account tokens, holding exactly the RBAC
the Helm chart grants: through a token kubeconfig (`kubectl create token`) and through
the in-cluster loader (token file, CA and environment as a pod gets them).

Before the fix the token was read under a key the `kubernetes` client no longer fills:
every request went out as system:anonymous and was refused.
"""

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from taskmill.kube import Kube
from taskmill.kube.config import Connection, in_cluster_connection, load_connection
from tests.harness import Cluster
from tests.harness.polling import PollTimeoutError, wait_for
from tests.integration.provider.kit import providers_for
from tests.unit.chart.helm import CHART, helm, values_file

RELEASE = "cred"
CAPABILITY = "demo.echo"
PROVIDER_POD = "provider-0"
VALUES = {
    "crds": {"install": False},
    "providers": {"pools": [{"name": "echo", "capabilities": [CAPABILITY], "command": ["cat"]}]},
}


@dataclass(frozen=True)
class Accounts:
    namespace: str
    operator_token: str
    provider_token: str  # bound to the Pod PROVIDER_POD, as a pod's projected token is

    def user(self, component: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{RELEASE}-taskmill-{component}"


@pytest.fixture
def accounts(cluster: Cluster, crds: list[str], namespace: str) -> Iterator[Accounts]:
    """The chart installed (its ServiceAccounts, RBAC and admission policy) and a token for
    each component. Nothing runs the chart's Deployments: there is no kubelet."""
    with values_file(VALUES) as path:
        done = helm(
            *("install", RELEASE, str(CHART), "--namespace", namespace, "--skip-crds"),
            *("--values", str(path), "--wait=false"),
            env=cluster.env,
        )
    assert done.returncode == 0, done.stderr
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": PROVIDER_POD, "namespace": namespace},
            "spec": {
                "serviceAccountName": f"{RELEASE}-taskmill-provider",
                "containers": [{"name": "provider", "image": "taskmill"}],
            },
        }
        cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
        token = ("create", "token", "-n", namespace, "--duration=1h")
        operator = cluster.kubectl(*token, f"{RELEASE}-taskmill-operator").stdout.strip()
        provider = cluster.kubectl(
            *token,
            f"{RELEASE}-taskmill-provider",
            "--bound-object-kind=Pod",
            f"--bound-object-name={PROVIDER_POD}",
        ).stdout.strip()
        yield Accounts(namespace, operator, provider)
    finally:
        # Cluster-scoped objects (admission policies) outlive the namespace otherwise.
        helm("uninstall", RELEASE, "-n", namespace, "--wait=false", env=cluster.env)


def token_kubeconfig(cluster: Cluster, token: str, path: Path) -> Cluster:
    """A kubeconfig with the cluster's server and CA and nothing but `token`; the
    returned Cluster runs kubectl and components with it."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sa",
        "clusters": [{"name": "sa", "cluster": server}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "sa", "user": "sa"}}],
    }
    path.write_text(yaml.safe_dump(doc))
    return Cluster(kubeconfig=path, bin_dir=cluster.bin_dir)


def whoami(conn: Connection) -> dict[str, Any]:
    """The user the API server authenticated, through the client components use."""

    async def review() -> dict[str, Any]:
        async with Kube(conn) as kube:
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
            answer = await kube.create("/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
        user: dict[str, Any] = answer["status"]["userInfo"]
        return user

    return asyncio.run(review())


def test_token_kubeconfigs_authenticate_as_their_service_accounts(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    operator = token_kubeconfig(cluster, accounts.operator_token, tmp_path / "operator")
    provider = token_kubeconfig(cluster, accounts.provider_token, tmp_path / "provider")

    assert whoami(load_connection(str(operator.kubeconfig)))["username"] == accounts.user(
        "operator"
    )
    provider_user = whoami(load_connection(str(provider.kubeconfig)))
    assert provider_user["username"] == accounts.user("provider")
    assert provider_user["extra"]["authentication.kubernetes.io/pod-name"] == [PROVIDER_POD]


def test_operator_and_provider_run_a_job_with_the_charts_rbac(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    operator = token_kubeconfig(cluster, accounts.operator_token, tmp_path / "operator")
    provider = token_kubeconfig(cluster, accounts.provider_token, tmp_path / "provider")
    namespace = accounts.namespace
    for component in ("operator", "provider"):
        (tmp_path / f"{component}-logs").mkdir()

    with (
        providers_for(operator, namespace, tmp_path / "operator-logs") as as_operator,
        providers_for(provider, namespace, tmp_path / "provider-logs") as as_provider,
    ):
        as_operator.start_operator()
        as_provider.start(PROVIDER_POD, CAPABILITY, ["cat"])
        job = {
            "apiVersion": "taskmill.io/v1alpha1",
            "kind": "BatchJob",
            "metadata": {"name": "creds", "namespace": namespace},
            "spec": {"capability": CAPABILITY, "items": [{"n": 1}, {"n": 2}]},
        }
        cluster.kubectl("create", "-f", "-", input=json.dumps(job))

        def phase() -> str:
            got = cluster.kubectl("get", "batchjob", "creds", "-n", namespace, "-o", "json")
            return str(json.loads(got.stdout).get("status", {}).get("phase", ""))

        def logs() -> str:
            return "\n".join(
                p.log_text()[-3000:] for p in as_operator.started + as_provider.started
            )

        try:
            wait_for(lambda: phase() == "Succeeded", timeout=60, what="the job to succeed")
        except PollTimeoutError:
            print(logs())
            raise
        assert "Forbidden" not in logs()
        assert "system:anonymous" not in logs()


def test_in_cluster_loader_authenticates_with_the_pods_files(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    admin = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]
    account_dir = tmp_path / "serviceaccount"
    account_dir.mkdir()
    (account_dir / "token").write_text(accounts.operator_token)
    (account_dir / "ca.crt").write_bytes(base64.b64decode(admin["certificate-authority-data"]))
    server = urlsplit(admin["server"])
    env = {
        "KUBERNETES_SERVICE_HOST": str(server.hostname),
        "KUBERNETES_SERVICE_PORT": str(server.port),
    }

    conn = in_cluster_connection(env, account_dir)
    assert whoami(conn)["username"] == accounts.user("operator")
    # The kubelet rotates the token in place; the next request carries the new one.
    (account_dir / "token").write_text(accounts.provider_token)
    assert whoami(conn)["username"] == accounts.user("provider")
