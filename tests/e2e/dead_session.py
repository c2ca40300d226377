"""A session that dies with its node running: `python -m tests.e2e.dead_session STATE_DIR`.

Starts the kubelet mode in STATE_DIR, runs a hostNetwork pod (the pause image), prints
`READY <node address>` and blocks reading stdin until it is killed. Its kubelet and
containerd die with it (PR_SET_PDEATHSIG); the pod's processes, shims, mounts, cgroups
and the address do not: test_kubelet_teardown.py checks that the cleanup of a dead
session's state dir takes them down.
"""

import json
import sys
from pathlib import Path

from tests.harness.kubelet import SANDBOX_IMAGE, KubeletControlPlane
from tests.harness.polling import wait_for
from tests.harness.versions import Binaries

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "left-behind", "namespace": "default"},
    "spec": {
        "hostNetwork": True,
        "containers": [{"name": "c", "image": SANDBOX_IMAGE, "imagePullPolicy": "Never"}],
    },
}


def main(state_dir: Path) -> None:
    plane = KubeletControlPlane(state_dir, Binaries.locate(), die_with_parent=True)
    cluster = plane.start()
    cluster.kubectl("apply", "-f", "-", input=json.dumps(POD))
    wait_for(
        lambda: (
            cluster.kubectl("get", "pod", "left-behind", "-o=jsonpath={.status.phase}").stdout
            == "Running"
        ),
        timeout=120,
        what="the pod Running",
    )
    print("READY", plane.address, flush=True)
    sys.stdin.read()  # until killed


if __name__ == "__main__":
    main(Path(sys.argv[1]))
