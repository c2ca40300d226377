"""Operator fixtures: the operator as a real subprocess, and a lease driver, per test.

Each test gets its own namespace, its own operator process(es) scoped to it and a
LeaseDriver playing the provider. Operators are killed at teardown; their logs are
kept in the test's tmp_path and printed (pytest shows them when a test fails).
"""

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Cluster
from tests.integration.leasing import LeaseDriver

OperatorFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def driver(cluster: Cluster, crds: list[str], namespace: str) -> Iterator[LeaseDriver]:
    with LeaseDriver(cluster.kubeconfig, namespace) as d:
        yield d


@pytest.fixture
def start_operator(
    cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[OperatorFactory]:
    """Start `python -m taskmill.operator --namespace NS` (more replicas: call again).

    With all_namespaces=True the operator watches every namespace; its leader Lease
    still lives in the test's namespace, so it never contends with other tests.
    """
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        *args: str, identity: str | None = None, all_namespaces: bool = False
    ) -> subprocess.Popen[bytes]:
        identity = identity or f"operator-{len(procs)}"
        log = tmp_path / f"{identity}.log"
        scope = ["--all-namespaces", "--leader-lease-namespace", namespace]
        cmd = [
            sys.executable,
            "-m",
            "taskmill.operator",
            *(scope if all_namespaces else ["--namespace", namespace]),
            "--identity",
            identity,
            "--lease-grace-seconds",
            "1",
            "--leader-lease-seconds",
            "5",
            "--metrics-bind-address",
            "0",
            *args,
        ]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=cluster.env, stdout=out, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        return proc

    yield start
    for proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    for _, log in procs:  # pytest shows captured output for failed tests only
        print(f"--- {log.name}\n{log.read_text()[-20000:]}")


@pytest.fixture
def operator(start_operator: OperatorFactory) -> subprocess.Popen[bytes]:
    """One operator replica for the test's namespace."""
    return start_operator()
