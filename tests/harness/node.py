"""One node for the local control plane: containerd, kubelet and kube-scheduler.

Used by tests/harness/kubelet.py. Everything the node makes lives under <state>/node
(containerd's root and state, the kubelet's root dir and pod logs, the CNI config)
or is named after the state dir (the pods' cgroup parent), and the node's address on
`lo` is recorded in <state>/node/address. So `clean()` can take a node down completely
from the state dir alone, also after its owner died (tests/harness/scratch.py).

The node runs only hostNetwork pods: its CNI network is the loopback plugin alone, so
a pod in its own network namespace gets no route anywhere (its sandbox fails), and
nothing a pod does can reach an address off this machine through a pod network.
"""

import contextlib
import ctypes
import hashlib
import ipaddress
import json
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness import procs
from tests.harness.polling import wait_for

# TEST-NET-1 (RFC 5737): documentation addresses, routed nowhere. The node's address is
# one of them, added to `lo` (the kubelet refuses a loopback node IP; `lo` keeps
# everything sent to it on this machine).
NODE_NETWORK = ipaddress.ip_network("192.0.2.0/24")
NODE_NAME = "taskmill-node"
# In start order; tests/harness/controlplane.py finds strays of a state dir by them.
COMPONENTS = ("containerd", "kubelet", "kube-scheduler")
CGROUP_FS = Path("/sys/fs/cgroup")
RUNTIME_PROGRAMS = ("containerd-shim-runc-v2", "containerd-shim")
MNT_DETACH = 2
TEARDOWN_TIMEOUT = 30.0
# Debian's containernetworking-plugins.
CNI_BIN_DIR = "/usr/lib/cni"


@dataclass(frozen=True)
class NodeLayout:
    """Paths and names of the node belonging to a control plane's state dir."""

    state_dir: Path

    @property
    def root(self) -> Path:
        return self.state_dir / "node"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "net.d"

    @property
    def address_file(self) -> Path:
        return self.root / "address"

    @property
    def iptables_file(self) -> Path:
        return self.root / "iptables-chains.json"

    @property
    def cgroup_root(self) -> str:
        """The cgroup parent of every pod of this node, unique per state dir."""
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        return f"taskmill-{digest}"


def containerd_config(layout: NodeLayout, sandbox_image: str) -> str:
    root = layout.root
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}/containerd-root"
state = "{root}/containerd-state"
# Snapshotters this machine lacks only add noise to the log.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{layout.containerd_socket}"
[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/containerd-opt"
[{cri}]
  sandbox_image = "{sandbox_image}"
  # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj below the runtime's own
  # (the pause container asks for -998): every sandbox would fail to start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
"""


# The runtime reports its network ready once it has loaded a network besides its own
# loopback: this one gives a pod's namespace nothing but `lo`.
CNI_CONFIG = {
    "cniVersion": "0.4.0",
    "name": "taskmill-loopback-only",
    "plugins": [{"type": "loopback"}],
}


def kubelet_config(layout: NodeLayout, address: str, port: int) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        "port": port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        # A test node: the API server (for logs and exec) needs no credentials.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{layout.cgroup_root}",
        # kubelet 1.35 refuses cgroup v1 unless told otherwise; these machines have it.
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "podLogsDir": str(layout.root / "pod-logs"),
        "resolvConf": "/etc/resolv.conf",
        "registerNode": True,
        "serializeImagePulls": False,
        # A shared disk and memory: never evict the test's pods, never collect its images.
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "0%",
            "imagefs.available": "0%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Faster status: pods' readiness and deletions show up sooner.
        "syncFrequency": "5s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
    }


def containerd_args(layout: NodeLayout) -> list[str]:
    return ["containerd", f"--config={layout.containerd_config}"]


def kubelet_args(kubelet: Path, layout: NodeLayout, kubeconfig: Path, address: str) -> list[str]:
    return [
        str(kubelet),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.kubelet_dir}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={address}",
    ]


def scheduler_args(scheduler: Path, kubeconfig: Path) -> list[str]:
    return [
        str(scheduler),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
    ]


def write_configs(layout: NodeLayout, sandbox_image: str, address: str, port: int) -> None:
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.cni_conf_dir / "10-taskmill.conflist").write_text(json.dumps(CNI_CONFIG))
    layout.containerd_config.write_text(containerd_config(layout, sandbox_image))
    layout.kubelet_config.write_text(yaml.safe_dump(kubelet_config(layout, address, port)))


# ---- the node's address on lo ----


def _lo_addresses() -> set[str]:
    shown = subprocess.run(
        ["ip", "-j", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True
    )
    return {a["local"] for link in json.loads(shown.stdout) for a in link.get("addr_info", [])}


def add_address(layout: NodeLayout) -> str:
    """Add a free address of NODE_NETWORK to `lo`, recorded before it is added."""
    taken = _lo_addresses()
    free = next(str(a) for a in NODE_NETWORK.hosts() if str(a) not in taken)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.address_file.write_text(free)
    subprocess.run(["ip", "addr", "add", f"{free}/32", "dev", "lo"], check=True)
    return free


def _remove_address(layout: NodeLayout) -> None:
    with contextlib.suppress(FileNotFoundError):
        address = layout.address_file.read_text().strip()
        if address in _lo_addresses():
            subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=True)
        layout.address_file.unlink()


# ---- iptables: the kubelet adds its canary and hint chains; we remove what it added ----

# (command, table) pairs, keyed "command/table" in the record.
IPTABLES = tuple(
    (cmd, table) for cmd in ("iptables", "ip6tables") for table in ("filter", "nat", "mangle")
)


def _rules(cmd: str, table: str) -> list[list[str]]:
    listed = subprocess.run(
        [cmd, "-w", "-t", table, "-S"], capture_output=True, text=True, check=False
    )
    return [shlex.split(line) for line in listed.stdout.splitlines()]


def iptables_chains() -> dict[str, list[str]]:
    return {
        f"{cmd}/{table}": [words[1] for words in _rules(cmd, table) if words[:1] == ["-N"]]
        for cmd, table in IPTABLES
    }


def record_iptables(layout: NodeLayout) -> None:
    """Remember the chains that exist before the kubelet starts."""
    layout.iptables_file.write_text(json.dumps(iptables_chains()))


def _remove_new_chains(layout: NodeLayout) -> None:
    try:
        before: dict[str, list[str]] = json.loads(layout.iptables_file.read_text())
    except FileNotFoundError:
        return
    for cmd, table in IPTABLES:
        rules = _rules(cmd, table)
        existing = before.get(f"{cmd}/{table}", [])
        added = {w[1] for w in rules if w[:1] == ["-N"] and w[1] not in existing}
        # Jumps into them from chains that stay (INPUT, OUTPUT, ...), then the chains.
        for words in rules:
            if words[:1] == ["-A"] and words[1] not in added and _target(words) in added:
                subprocess.run([cmd, "-w", "-t", table, "-D", *words[1:]], check=False)
        for flag in ("-F", "-X"):  # flush all first: one chain may jump to another
            for chain in added:
                subprocess.run([cmd, "-w", "-t", table, flag, chain], check=False)
    layout.iptables_file.unlink()


def _target(words: list[str]) -> str:
    return words[words.index("-j") + 1] if "-j" in words[:-1] else ""


# ---- the pods' cgroup parent ----


def _hierarchies() -> list[Path]:
    """cgroup v2: the one unified tree; v1: one tree per controller (and v1 machines'
    cgroup2 mount beside them, which the runtime may use too)."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    return [h for h in CGROUP_FS.iterdir() if h.is_dir()]


def make_cgroup_root(layout: NodeLayout) -> None:
    """Create the pods' cgroup parent in every hierarchy: the kubelet only uses it."""
    for hierarchy in _hierarchies():
        path = hierarchy / layout.cgroup_root
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":  # a cpuset without CPUs or memory nodes takes no task
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (path / knob).write_text((hierarchy / knob).read_text())


# ---- teardown ----


def _pod_cgroups(layout: NodeLayout) -> list[Path]:
    """Every cgroup of the node's pods, in every hierarchy, deepest first."""
    found = [
        path for hierarchy in _hierarchies() if (path := hierarchy / layout.cgroup_root).is_dir()
    ]
    nested = [d for top in found for d, _, _ in os.walk(top)]
    return sorted({Path(d) for d in nested}, key=lambda p: len(p.parts), reverse=True)


def _cgroup_pids(cgroups: list[Path]) -> set[int]:
    pids: set[int] = set()
    for cgroup in cgroups:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
    return pids


def _kill_pods(layout: NodeLayout) -> None:
    """SIGKILL every process in the node's pod cgroups until none is left, then remove them."""

    def emptied() -> bool:
        pids = _cgroup_pids(_pod_cgroups(layout))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids

    wait_for(emptied, timeout=TEARDOWN_TIMEOUT, what="the node's pod processes to exit")
    for cgroup in _pod_cgroups(layout):
        with contextlib.suppress(FileNotFoundError):
            cgroup.rmdir()


def _mounts_under(root: Path) -> list[str]:
    """Mount points under `root`, deepest first (mountinfo escapes spaces as \\040)."""
    prefix = f"{root.resolve()}/"
    points = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


_umount2 = ctypes.CDLL(None, use_errno=True).umount2


def _unmount_all(root: Path) -> None:
    for _ in range(5):  # a detached mount may uncover one it was stacked on
        points = _mounts_under(root)
        if not points:
            return
        for point in points:
            _umount2(point.encode(), MNT_DETACH)
    remaining = _mounts_under(root)
    if remaining:
        raise RuntimeError(f"still mounted under {root}: {remaining}")


def clean(state_dir: Path) -> None:
    """Take down whatever of a node is left from `state_dir` once its processes are
    stopped: pod processes and shims, cgroups, mounts, iptables chains, the address."""
    layout = NodeLayout(state_dir)
    if not layout.root.exists():
        return
    _kill_pods(layout)
    for pid in procs.find(RUNTIME_PROGRAMS, str(layout.containerd_socket)):
        procs.stop_group(pid, procs.pid_exited(pid))
    _unmount_all(layout.root)
    _remove_new_chains(layout)
    _remove_address(layout)


def leftovers(state_dir: Path, address: str, chains_before: dict[str, list[str]]) -> list[str]:
    """What of a node is still there after clean(); empty when it is all gone."""
    layout = NodeLayout(state_dir)
    found = []
    programs = (*COMPONENTS, *RUNTIME_PROGRAMS)
    pids = list(procs.find(programs, f"{state_dir.resolve()}/"))
    if pids:
        found.append(f"processes {pids}")
    if cgroups := _pod_cgroups(layout):
        found.append(f"cgroups {[str(c) for c in cgroups]}")
    if mounts := _mounts_under(layout.root):
        found.append(f"mounts {mounts}")
    if address in _lo_addresses():
        found.append(f"address {address} on lo")
    chains = iptables_chains()
    added = {k: sorted(set(v) - set(chains_before.get(k, []))) for k, v in chains.items()}
    if any(added.values()):
        found.append(f"iptables chains {added}")
    return found


# ---- images ----


def import_image(layout: NodeLayout, archive: Path) -> None:
    """Import an image archive (podman save / docker save) for the kubelet's pods."""
    subprocess.run(
        [
            "ctr",
            f"--address={layout.containerd_socket}",
            "--namespace=k8s.io",
            "images",
            "import",
            str(archive),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


def runtime_ready(layout: NodeLayout) -> bool:
    return (
        subprocess.run(
            ["ctr", f"--address={layout.containerd_socket}", "version"],
            capture_output=True,
            check=False,
            timeout=10,
        ).returncode
        == 0
    )
