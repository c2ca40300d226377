"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) for tests.

Used by the integration fixtures (tests/integration/conftest.py) and by
`python -m tests.harness up|down|status|env` (make cluster / make cluster-down).
"""

from tests.harness.cluster import Cluster, KubectlError
from tests.harness.controlplane import ControlPlane, StartupError
from tests.harness.polling import PollTimeoutError, wait_for
from tests.harness.versions import Binaries

__all__ = [
    "Binaries",
    "Cluster",
    "ControlPlane",
    "KubectlError",
    "PollTimeoutError",
    "StartupError",
    "wait_for",
]
