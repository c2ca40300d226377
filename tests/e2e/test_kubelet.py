"""The end-to-end scenario (scenario.py) on the harness's kubelet mode: a real kubelet
and containerd on this machine, no Docker engine needed.

The image is built from the Dockerfile (hack/images.sh: podman on a Debian base image
without Docker) while the control plane and its node start, then imported into the
node's containerd. Pods run on the host network: the node has no pod network, and the
API server listens on loopback, so the chart values point KUBERNETES_SERVICE_HOST/PORT
at it and give every pod its own free ports.

Needs root with apt-get (hack/install-node.sh installs the Debian tools) and Go for the
first build of kubelet and kube-scheduler; without them the test is skipped with the
reason. Everything stays on this machine: the node's address is on `lo`.
TASKMILL_KEEP_STATE=1 keeps the state dir (component logs, pod logs) after teardown.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import scenario
from tests.harness import kubelet, node
from tests.harness.cluster import Cluster
from tests.harness.objectstore import ObjectStore
from tests.harness.ports import free_ports
from tests.harness.scratch import session_state_dir
from tests.harness.versions import Binaries

pytestmark = pytest.mark.e2e

IMAGE = {"repository": "localhost/taskmill", "tag": "e2e"}
BUILD_TIMEOUT = 1800.0


def build_image() -> "subprocess.Popen[str]":
    """Build the image in the background; its last line of output is the archive."""
    image = f"{IMAGE['repository']}:{IMAGE['tag']}"
    script = kubelet.IMAGES_SCRIPT
    return subprocess.Popen(
        ["bash", "-c", f'"{script}" taskmill {image} >&2 && "{script}" archive {image}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def node_cluster(node_binaries: Binaries) -> Iterator[tuple[Cluster, dict[str, Any]]]:
    """A control plane with one Ready node and the image imported; the chart values
    its network needs."""
    chains_before = node.iptables_chains()
    with session_state_dir(keep=bool(os.environ.get("TASKMILL_KEEP_STATE"))) as state_dir:
        build = build_image()
        plane = kubelet.KubeletControlPlane(state_dir, node_binaries, die_with_parent=True)
        try:
            with plane as cluster:
                archive, output = build.communicate(timeout=BUILD_TIMEOUT)
                assert build.returncode == 0, f"image build failed:\n{output[-4000:]}"
                plane.import_image(Path(archive.strip()))
                yield cluster, host_network_values(cluster)
        finally:
            if build.poll() is None:
                build.kill()
                build.wait()
        # Torn down completely: nothing of the node is left on the machine.
        assert not node.leftovers(state_dir, plane.address, chains_before)


def host_network_values(cluster: Cluster) -> dict[str, Any]:
    """Pods on the node's network: the API server where the host reaches it, and each
    pod its own ports (one provider pod at most: scenario.values)."""
    host, _, port = cluster.server.removeprefix("https://").partition(":")
    env = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": port},
    ]
    operator_port, provider_port, operator_metrics, provider_metrics = free_ports(4)
    return {
        "hostNetwork": True,
        "metrics": {"port": operator_metrics},
        "operator": {"env": env, "livenessPort": operator_port},
        "pool": {"env": env, "healthPort": provider_port, "metricsPort": provider_metrics},
    }


@pytest.fixture(scope="module")
def store(
    node_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObjectStore]:
    """An S3 store on loopback, which the host-network pods reach as the tests do."""
    with ObjectStore(tmp_path_factory.mktemp("store"), binaries=node_binaries) as started:
        yield started


@pytest.mark.timeout(BUILD_TIMEOUT + 600)
def test_taskmill_runs_as_pods_on_a_kubelet(
    node_cluster: tuple[Cluster, dict[str, Any]], store: ObjectStore
) -> None:
    cluster, environment = node_cluster
    scenario.run(cluster, scenario.values(IMAGE, environment, store), store)
