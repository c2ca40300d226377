"""`python -m tests.harness demo` (make demo) end to end, each run in a state dir of its own.

Not the session cluster: the demo starts and stops its own control plane, which is
what a user's `make demo` does. Output goes to a file, so the demo runs in its
non-TTY mode, as in CI.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Binaries, Cluster, wait_for
from tests.harness.controlplane import running_components, stop_state_dir
from tests.harness.demo import INPUT_KEY, JOB_ORDER, NAMESPACE, input_texts
from tests.harness.scratch import session_state_dir
from tests.harness.versions import REPO_ROOT

RUN_TIMEOUT = 240

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TASKMILL_TEST_KUBECONFIG")),
    reason="the demo starts a local control plane of its own, not the given cluster",
)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A fresh state dir; whatever the demo left running in it is stopped afterwards."""
    with session_state_dir() as path:
        try:
            yield path
        finally:
            stop_state_dir(path)


def start_demo(state_dir: Path, timeout: int = 180) -> tuple["subprocess.Popen[bytes]", Path]:
    output = state_dir / "demo-output.txt"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness", "demo", "--state-dir", str(state_dir)],
            cwd=REPO_ROOT,
            env={**os.environ, "TASKMILL_DEMO_TIMEOUT": str(timeout)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Ctrl-C as a terminal delivers it, also when the suite runs in the
            # background of a shell without job control (which ignores SIGINT for its
            # children, and Python then keeps ignoring it).
            preexec_fn=_default_sigint,
        )
    return proc, output


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def processes_of(state_dir: Path) -> list[str]:
    """Live processes started for `state_dir`: named in their command line, or children
    that reach the API server through its kubeconfig (operator, providers, commands)."""
    kubeconfig = f"KUBECONFIG={state_dir / 'kubeconfig'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if str(state_dir) in cmdline or kubeconfig in environ:
            found.append(f"{entry.name}: {cmdline}")
    return found


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_demo_runs_every_job_to_success_and_leaves_only_the_control_plane(
    state_dir: Path,
) -> None:
    proc, output_file = start_demo(state_dir)
    try:
        proc.wait(RUN_TIMEOUT)
    finally:
        proc.kill()
    output = output_file.read_text()
    assert proc.returncode == 0, output
    assert "\x1b[" not in output, "no terminal: plain lines, no ANSI escapes"
    assert "hash-bulk    Success       54/54" in output
    assert f"export KUBECONFIG={state_dir / 'kubeconfig'}" in output
    assert "Results (outputs in the object store: s3://taskmill at http://127.0.0.1:" in output

    cluster = Cluster(kubeconfig=state_dir / "kubeconfig", bin_dir=Binaries.locate().kube_dir)
    jobs = json.loads(cluster.kubectl("get", "batchjobs", "-n", NAMESPACE, "-o", "json").stdout)
    phases = {job["metadata"]["name"]: job["status"]["phase"] for job in jobs["items"]}
    assert phases == dict.fromkeys(JOB_ORDER, "Succeeded")
    tasks = json.loads(cluster.kubectl("get", "tasks", "-n", NAMESPACE, "-o", "json").stdout)
    results = {task["metadata"]["name"]: task["status"]["result"] for task in tasks["items"]}

    # Every file moved through the store, as the manifests in the Tasks' status say.
    texts = input_texts()
    sums = "".join(f"{sha256(text)}  {key}\n" for key, text in sorted(texts.items()))
    assert results["hash-urgent-0"]["output"] == "".join(sums.splitlines(keepends=True)[:5])
    assert results["hash-urgent-0"]["files"]["inputs"][0] == {
        "path": "input/0/doc-000.txt",
        "key": INPUT_KEY.format(index=0),
        "size": len(texts[INPUT_KEY.format(index=0)]),
        "sha256": sha256(texts[INPUT_KEY.format(index=0)]),
    }
    checksums = results["checksums-0"]["files"]
    assert len(checksums["inputs"]) == 60, "the hashing jobs' 54 + 6 outputs, by prefix"
    assert checksums["outputs"] == [
        {
            "path": "SHA256SUMS",
            "key": f"{NAMESPACE}/checksums/0/1/SHA256SUMS",
            "size": len(sums),
            "sha256": sha256(sums),
        }
    ]
    stats_keys = {
        record["key"]
        for name, result in results.items()
        if name.startswith("wordcount-")
        for record in result["files"]["outputs"]
    }
    assert len(stats_keys) == len(texts)
    # The demo prints one of them, read back from the store.
    printed = next(line for line in output.splitlines() if '"file": "input/doc-000.txt"' in line)
    stats, text = json.loads(printed), texts[INPUT_KEY.format(index=0)]
    assert (stats["lines"], stats["words"]) == (len(text.splitlines()), len(text.split()))
    top_word, top_count = stats["top"][0]
    assert top_count == text.split().count(top_word)

    control_plane = running_components(state_dir)
    assert len(control_plane) == 3, "the control plane stays up for poking"
    leftovers = [p for p in processes_of(state_dir) if int(p.split(":")[0]) not in control_plane]
    assert leftovers == [], "the operator, providers and object store are stopped"


def test_interrupted_demo_leaves_no_process_behind(state_dir: Path) -> None:
    proc, output_file = start_demo(state_dir)
    try:
        wait_for(
            lambda: "Running" in output_file.read_text() or proc.poll() is not None,
            timeout=RUN_TIMEOUT,
            what="the demo's jobs to run",
        )
        assert proc.poll() is None, output_file.read_text()
        assert processes_of(state_dir), "the demo's processes are found while it runs"
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        proc.kill()
    assert proc.returncode == 130, output_file.read_text()
    assert processes_of(state_dir) == []


def test_a_demo_that_times_out_fails_with_the_reason_and_stops_everything(
    state_dir: Path,
) -> None:
    proc, output_file = start_demo(state_dir, timeout=2)
    try:
        proc.wait(RUN_TIMEOUT)
    finally:
        proc.kill()
    output = output_file.read_text()
    assert proc.returncode == 1, output
    assert "timed out after 2s waiting for: hash-bulk" in output
    assert processes_of(state_dir) == []
