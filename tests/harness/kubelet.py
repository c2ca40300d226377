"""The local control plane with one real node: the kubelet mode.

Beside etcd, kube-apiserver and kube-controller-manager it runs containerd, a kubelet
and kube-scheduler (tests/harness/node.py), so Deployments become pods that run
images. The API server admits pods with ServiceAccount admission and the controller
manager publishes the root CA, so pods get projected, pod-bound tokens as in any
cluster; the controllers Deployments, ReplicaSets and node readiness need are on.

Needs root, the tools of hack/install-node.sh, the `node` binaries of
hack/build-control-plane.sh and the pause image of hack/images.sh; `missing()` says
what is absent. Stopping it (exit, Ctrl-C, a failed test) stops the processes, then
takes down the pods' processes, cgroups and mounts, the kubelet's iptables chains and
the node's address on `lo` (node.clean).
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.harness import node
from tests.harness.certs import PkiFiles
from tests.harness.cluster import Cluster
from tests.harness.controlplane import ControlPlane
from tests.harness.ports import free_ports
from tests.harness.versions import REPO_ROOT, Binaries

IMAGES_SCRIPT = REPO_ROOT / "hack" / "images.sh"
INSTALL_SCRIPT = REPO_ROOT / "hack" / "install-node.sh"
NODE_TIMEOUT = 120.0
SANDBOX_IMAGE = "localhost/taskmill-pause:latest"
# What Deployments, ReplicaSets, Jobs and pods with tokens need, on top of the base set.
NODE_CONTROLLERS = (
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    "disruption-controller",
    "taint-eviction-controller",
)
TOOLS = ("containerd", "ctr", "runc", "podman", "buildah", "ip", "iptables")


def missing(binaries: Binaries) -> list[str]:
    """Why this machine cannot run the kubelet mode; empty when it can."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (the kubelet and containerd need root)")
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        reasons.append(f"missing {', '.join(absent)} (hack/install-node.sh installs them)")
    if not os.access(binaries.kubelet, os.X_OK):
        reasons.append(f"no kubelet at {binaries.kubelet} (hack/build-control-plane.sh node)")
    return reasons


def install_tools() -> str | None:
    """Run hack/install-node.sh; None when the tools are there, else why not."""
    done = subprocess.run(
        [str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    return None if done.returncode == 0 else done.stdout.strip() or done.stderr.strip()


def pause_archive() -> Path:
    """The sandbox image's archive, built and cached by hack/images.sh."""
    built = subprocess.run(
        [str(IMAGES_SCRIPT), "pause"], capture_output=True, text=True, timeout=600, check=True
    )
    return Path(built.stdout.strip())


class KubeletControlPlane(ControlPlane):
    """ControlPlane plus one Ready node named node.NODE_NAME; start() returns its Cluster."""

    def __init__(self, state_dir: Path, binaries: Binaries, *, die_with_parent: bool) -> None:
        super().__init__(state_dir, binaries, die_with_parent=die_with_parent)
        self.node = node.NodeLayout(self.layout.root)
        self.address = ""

    def stop(self) -> None:
        super().stop()
        node.clean(self.layout.root)

    def import_image(self, archive: Path) -> None:
        node.import_image(self.node, archive)

    def _start_once(self) -> Cluster:
        node.clean(self.layout.root)  # the remains of an earlier attempt
        pause = pause_archive()
        cluster = super()._start_once()
        deadline = time.monotonic() + NODE_TIMEOUT
        self.address = node.add_address(self.node)
        (kubelet_port,) = free_ports(1)
        node.write_configs(self.node, SANDBOX_IMAGE, self.address, kubelet_port)
        node.record_iptables(self.node)
        node.make_cgroup_root(self.node)

        self._launch("containerd", node.containerd_args(self.node))
        self._await("containerd", lambda: node.runtime_ready(self.node), deadline)
        node.import_image(self.node, pause)
        kubeconfig = self.layout.kubeconfig
        self._launch(
            "kubelet", node.kubelet_args(self.binaries.kubelet, self.node, kubeconfig, self.address)
        )
        self._launch(
            "kube-scheduler", node.scheduler_args(self.binaries.kube_scheduler, kubeconfig)
        )
        self._await("kubelet", lambda: _node_ready(cluster), deadline)
        self.layout.pids.write_text(json.dumps({n: p.pid for n, p in self._procs.items()}))
        return cluster

    def _apiserver_args(self, pki: PkiFiles, etcd_port: int, secure_port: int) -> list[str]:
        args = super()._apiserver_args(pki, etcd_port, secure_port)
        # Pods are real here: admit them with their ServiceAccount's projected token.
        args.remove("--disable-admission-plugins=ServiceAccount")
        # `kubectl logs` and `exec` reach the kubelet at the node's address on lo.
        return [*args, "--kubelet-preferred-address-types=InternalIP"]

    def _controller_manager_args(self, pki: PkiFiles) -> list[str]:
        args = super()._controller_manager_args(pki)
        controllers = next(a for a in args if a.startswith("--controllers="))
        args[args.index(controllers)] = f"{controllers},{','.join(NODE_CONTROLLERS)}"
        # The root CA publisher puts this in every namespace's kube-root-ca.crt.
        return [*args, f"--root-ca-file={pki.ca_cert}"]


def _node_ready(cluster: Cluster) -> bool:
    """The node is registered, Ready, and carries no taint (the not-ready one is gone)."""
    try:
        got = cluster.kubectl(
            "get",
            "node",
            node.NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status} {.spec.taints}",
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return got.returncode == 0 and got.stdout.strip() == "True"
