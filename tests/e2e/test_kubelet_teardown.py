"""A session killed outright (SIGKILL: no teardown runs) leaves pods running under
containerd's shims, their mounts and cgroups, and the node's address on lo; the next
session's cleanup of its state dir (tests/harness/scratch.py, `make cluster-down`)
takes all of it down."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import node
from tests.harness.controlplane import stop_state_dir
from tests.harness.versions import REPO_ROOT, Binaries

pytestmark = pytest.mark.e2e


def test_a_killed_sessions_node_is_taken_down(node_binaries: Binaries, tmp_path: Path) -> None:
    chains_before = node.iptables_chains()
    session = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.dead_session", str(tmp_path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None
        ready = session.stdout.readline().split()
        assert ready[:1] == ["READY"], f"the session did not start: {ready}"
        address = ready[1]
        session.send_signal(signal.SIGKILL)
        session.wait(timeout=30)
        left = node.leftovers(tmp_path, address, chains_before)
        assert any(x.startswith("processes") for x in left), left  # the pod outlived it
    finally:
        session.kill()
        session.wait(timeout=30)
        stop_state_dir(tmp_path)

    assert node.leftovers(tmp_path, address, chains_before) == []
