"""What the kubelet-mode tests need: root, Debian's node tools, the node binaries (and
SeaweedFS, the store the pods move files through)."""

import os
import shutil

import pytest

from tests.harness import kubelet
from tests.harness.versions import Binaries

COMPONENTS = ("kube", "etcd", "helm", "node", "seaweedfs")


@pytest.fixture(scope="session")
def node_binaries() -> Binaries:
    """Install and build what the kubelet mode needs, or skip saying why it cannot."""
    if os.geteuid() != 0:
        pytest.skip("the kubelet mode needs root (containerd, kubelet, an address on lo)")
    why_not = kubelet.install_tools()
    if why_not:
        pytest.skip(f"the kubelet mode cannot get its tools: {why_not}")
    binaries = Binaries.locate()
    missing = binaries.missing(COMPONENTS)
    if missing and shutil.which("go") is None:
        pytest.skip(f"Go is needed to build {', '.join(missing)}")
    binaries.ensure(COMPONENTS)
    reasons = kubelet.missing(binaries)
    if reasons:
        pytest.skip("the kubelet mode cannot run here: " + "; ".join(reasons))
    return binaries
