"""End to end on kind: build the image, helm install the chart, run a BatchJob to Complete.

Needs a Docker engine (`docker info` must succeed), kind on PATH, and the pinned helm
(`make binaries`); without them the test is skipped and says which one is missing.
Everything else comes from this repository: the image from the Dockerfile, the
operator, CRDs, RBAC, admission policies and a provider pool from charts/taskmill.
"""

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.versions import REPO_ROOT, Binaries
from tests.unit.chart.helm import CHART, helm, helm_binary, values_file

pytestmark = pytest.mark.e2e

IMAGE = "taskmill:e2e"
NAMESPACE = "taskmill"
CAPABILITY = "demo.echo"
VALUES = {
    "image": {"repository": "taskmill", "tag": "e2e", "pullPolicy": "Never"},
    "providers": {
        "pools": [
            {
                "name": "echo",
                "capabilities": [CAPABILITY],
                "command": ["cat"],
                "replicas": 2,
                "concurrency": 2,
            }
        ]
    },
}
ITEMS = ["alpha", "beta", "gamma", "delta", "epsilon"]
BATCHJOB = {
    "apiVersion": "taskmill.io/v1alpha1",
    "kind": "BatchJob",
    "metadata": {"name": "echo", "namespace": NAMESPACE},
    "spec": {"capability": CAPABILITY, "items": ITEMS},
}


def run(*args: str, input: str | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        args, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def kubectl_binary() -> str:
    """The pinned kubectl when built, else one on PATH."""
    pinned = Binaries.locate().kubectl
    if os.access(pinned, os.X_OK):
        return str(pinned)
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip(f"no kubectl: neither {pinned} (`make binaries`) nor one on PATH")
    return found


def missing_tools() -> list[str]:
    """Why this machine cannot run the e2e test; empty when it can."""
    missing = []
    if shutil.which("docker") is None:
        missing.append("no Docker engine (the docker CLI is not on PATH)")
    else:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
        )
        if info.returncode != 0:
            reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
            missing.append(f"no Docker engine (`docker info` failed: {reason})")
    if shutil.which("kind") is None:
        missing.append("kind is not on PATH (https://kind.sigs.k8s.io)")
    return missing


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip("e2e needs Docker and kind: " + "; ".join(missing))
    helm_binary()
    kubectl_binary()


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh kind cluster with the freshly built image loaded; its kubeconfig."""
    require_tools()
    run("docker", "build", "-t", IMAGE, str(REPO_ROOT), timeout=1200)
    name = f"taskmill-e2e-{secrets.token_hex(3)}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    run("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), "--wait=120s")
    try:
        run("kind", "load", "docker-image", IMAGE, "--name", name)
        yield kubeconfig
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], check=False, timeout=300)


def test_a_batchjob_completes_on_kind(kind_cluster: Path) -> None:
    env = {"KUBECONFIG": str(kind_cluster)}
    kubectl = (kubectl_binary(), "--kubeconfig", str(kind_cluster))
    with values_file(VALUES) as path:
        installed = helm(
            *("install", "tm", str(CHART), "--namespace", NAMESPACE, "--create-namespace"),
            *("--values", str(path), "--wait", "--timeout=5m"),
            env=env,
        )
    assert installed.returncode == 0, installed.stderr

    run(*kubectl, "apply", "-f", "-", input=json.dumps(BATCHJOB))
    run(
        *kubectl,
        *("-n", NAMESPACE, "wait", "--for=condition=Complete", "batchjob/echo", "--timeout=300s"),
    )

    selector = "-l=taskmill.io/batchjob=echo"
    listed = run(*kubectl, "-n", NAMESPACE, "get", "tasks", selector, "-o", "json")
    tasks = json.loads(listed)["items"]
    assert len(tasks) == len(ITEMS)
    for task in tasks:
        assert task["status"]["phase"] == "Succeeded"
        # The provider ran `cat`: the task's params came back as its output.
        assert task["status"]["result"]["output"].strip()
