"""python -m tests.harness <command>: the local control plane behind `make cluster`.

    up      start it in the background (state in .taskmill/); prints `export` lines;
            --kubelet adds one node (containerd, kubelet, kube-scheduler; needs root)
    down    stop it, leaving no process behind
    status  show what runs; exit status 0 only when the apiserver is ready
    env     print the `export` lines again
    demo    the main job end to end (make demo; see tests/harness/demo.py)

Progress goes to stderr and only the export lines to stdout, so
`eval "$(python -m tests.harness up)"` works. Every command is idempotent.
"""

import argparse
import functools
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.harness.cluster import Cluster
from tests.harness.controlplane import (
    COMPONENTS,
    ControlPlane,
    Layout,
    running_components,
    stop_state_dir,
)
from tests.harness.demo import demo
from tests.harness.kubelet import KubeletControlPlane
from tests.harness.node import COMPONENTS as NODE_COMPONENTS
from tests.harness.node import NodeLayout
from tests.harness.versions import REPO_ROOT, Binaries

DEFAULT_STATE_DIR = REPO_ROOT / ".taskmill"


def _say(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr)


def _print_exports(layout: Layout) -> None:
    print(f"export KUBECONFIG={layout.kubeconfig}")
    print(f'export PATH="{Binaries.locate().kube_dir}:$PATH"')


def _ready(layout: Layout) -> bool:
    """All components run from this state dir and the apiserver says it is ready."""
    if len(running_components(layout.root)) < len(COMPONENTS) or not layout.kubeconfig.exists():
        return False
    cluster = Cluster(kubeconfig=layout.kubeconfig, bin_dir=Binaries.locate().kube_dir)
    try:
        cluster.get("/readyz", timeout=5)
    except OSError:
        return False
    return True


def up(layout: Layout, *, kubelet: bool = False) -> int:
    if _ready(layout):
        _say(f"already up ({layout.root})")
        _print_exports(layout)
        return 0
    if stop_state_dir(layout.root):
        _say("stopped the remains of a previous control plane")
    binaries = Binaries.locate()
    binaries.ensure(("kube", "etcd", "node") if kubelet else ("kube", "etcd"))
    started = time.monotonic()
    plane = KubeletControlPlane if kubelet else ControlPlane
    cluster = plane(layout.root, binaries, die_with_parent=False).start()
    _say(f"control plane up in {time.monotonic() - started:.1f}s at {cluster.server}")
    _say(f"logs in {layout.logs}; stop it with `make cluster-down`")
    _print_exports(layout)
    return 0


def down(layout: Layout) -> int:
    stopped = stop_state_dir(layout.root)
    shutil.rmtree(layout.etcd_data, ignore_errors=True)  # 64 MB of preallocated WAL; logs stay
    shutil.rmtree(NodeLayout(layout.root).root, ignore_errors=True)  # the node's images
    _say(f"stopped {len(stopped)} processes" if stopped else "not running")
    return 0


def status(layout: Layout) -> int:
    recorded = layout.recorded_pids()
    running = set(running_components(layout.root))
    for name in (*COMPONENTS, *(n for n in NODE_COMPONENTS if n in recorded)):
        pid = recorded.get(name)
        state = "running" if pid in running else "stopped"
        print(f"{name:<24} {state:<8} pid {pid or '-'}")
    ready = _ready(layout)
    print(f"apiserver                {'ready' if ready else 'not ready'}")
    return 0 if ready else 1


def env(layout: Layout) -> int:
    _print_exports(layout)
    return 0


COMMANDS: dict[str, Callable[[Layout], int]] = {
    "up": up,
    "down": down,
    "status": status,
    "env": env,
    "demo": demo,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: %(default)s"
    )
    parser.add_argument(
        "--kubelet", action="store_true", help="up: with one node (docs/operations.md)"
    )
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    if args.kubelet:
        if args.command != "up":
            parser.error("--kubelet goes with up")
        command = functools.partial(up, kubelet=True)
    try:
        return command(Layout(args.state_dir))
    except KeyboardInterrupt:
        _say("interrupted; nothing left running")
        return 130


if __name__ == "__main__":
    sys.exit(main())
