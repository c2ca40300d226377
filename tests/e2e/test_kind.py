"""The end-to-end scenario (scenario.py) on kind: build the image with Docker, load it
into a fresh kind cluster, and run taskmill there as users do.

Needs a Docker engine (`docker info` must succeed), kind on PATH, and the pinned helm
and kubectl (`make binaries`); without them the test is skipped and says which one is
missing. Machines without Docker run the same scenario on the harness's kubelet mode
(test_kubelet.py).
"""

import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e import scenario
from tests.harness.cluster import Cluster
from tests.harness.versions import REPO_ROOT, Binaries

pytestmark = pytest.mark.e2e

IMAGE = {"repository": "taskmill", "tag": "e2e"}


def run(*args: str, timeout: float = 600) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"


def missing_tools() -> list[str]:
    """Why this machine cannot run the kind path; empty when it can."""
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
    binaries = Binaries.locate()
    missing += [f"{c} not built (`make binaries`)" for c in binaries.missing(("kube", "helm"))]
    return missing


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh kind cluster with the freshly built image loaded."""
    missing = missing_tools()
    if missing:
        pytest.skip("the kind e2e needs Docker and kind: " + "; ".join(missing))
    image = f"{IMAGE['repository']}:{IMAGE['tag']}"
    run("docker", "build", "-t", image, str(REPO_ROOT), timeout=1200)
    name = f"taskmill-e2e-{secrets.token_hex(3)}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    run("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), "--wait=120s")
    try:
        run("kind", "load", "docker-image", image, "--name", name)
        yield Cluster(kubeconfig=kubeconfig, bin_dir=Binaries.locate().kube_dir)
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], check=False, timeout=300)


def test_taskmill_runs_as_pods_on_kind(kind_cluster: Cluster) -> None:
    scenario.run(kind_cluster, scenario.values(IMAGE, {}))
