"""What the provider integration tests share: provider processes and Task plumbing.

Providers run as real processes (`python -m taskmill.provider ...`), each in its own
process group so a test can SIGKILL/SIGSTOP it; Tasks are created and inspected
with kubectl, as the operator would leave them (spec only, status defaulted).
"""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskmill.api import protocol
from taskmill.api.common import TaskPhase
from taskmill.api.task import Task
from tests.builders import make_task
from tests.harness.cluster import Cluster
from tests.harness.controlplane import Layout
from tests.harness.polling import wait_for

REPO = Path(__file__).resolve().parents[3]


class ProviderProcess:
    def __init__(self, proc: "subprocess.Popen[bytes]", identity: str, log: Path) -> None:
        self.proc = proc
        self.identity = identity
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class Providers:
    """Starts provider processes for one test and makes sure none outlives it."""

    def __init__(self, cluster: Cluster, namespace: str, log_dir: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log_dir = log_dir
        self.started: list[ProviderProcess] = []

    def start(
        self,
        identity: str,
        capabilities: str,
        command: Sequence[str],
        *,
        concurrency: int = 1,
        lease_seconds: int = 15,
        extra: Sequence[str] = (),
        module: str = "taskmill.provider",
        wait_ready: bool = True,
    ) -> ProviderProcess:
        args = [sys.executable, "-m", module, "--namespace", self.namespace]
        if module == "taskmill.provider":
            args += [
                "--capability", capabilities,
                "--concurrency", str(concurrency),
                "--lease-seconds", str(lease_seconds),
                # short, so that cleanup's SIGTERM ends a test quickly
                "--grace-seconds", "1", "--kill-grace-seconds", "2",
                *extra,
                "--command", *command,
            ]  # fmt: skip
        log = self.log_dir / f"{identity}.log"
        env = {**self.cluster.env, "POD_NAME": identity, "PYTHONUNBUFFERED": "1"}
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        provider = ProviderProcess(proc, identity, log)
        self.started.append(provider)
        if wait_ready:
            wait_for(
                lambda: "serving" in provider.log_text() or provider.proc.poll() is not None,
                timeout=30,
                what=f"provider {identity} to start",
            )
            assert provider.proc.poll() is None, provider.log_text()
        return provider

    def start_operator(self, metrics_port: int | None = None) -> ProviderProcess:
        """The real operator for this namespace (a quick lease-expiry grace); metrics
        on loopback at metrics_port, or off."""
        log = self.log_dir / "operator.log"
        metrics = f"127.0.0.1:{metrics_port}" if metrics_port else "0"
        args = [
            sys.executable, "-m", "taskmill.operator", "--namespace", self.namespace,
            "--identity", "operator-0", "--lease-grace-seconds", "1",
            "--metrics-bind-address", metrics,
        ]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, cwd=REPO, env=self.cluster.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        operator = ProviderProcess(proc, "operator-0", log)
        self.started.append(operator)
        return operator

    def cleanup(self) -> None:
        """SIGTERM, so that providers end the commands they run (those live in their own
        process groups and would outlive a SIGKILLed provider); SIGKILL what hangs."""
        for process in self.started:
            if process.proc.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                process.signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.proc.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def providers_for(cluster: Cluster, namespace: str, log_dir: Path) -> Iterator[Providers]:
    providers = Providers(cluster, namespace, log_dir)
    try:
        yield providers
    finally:
        providers.cleanup()


def task_manifest(
    name: str,
    capability: str,
    *,
    index: int = 0,
    priority: int = 0,
    params: dict[str, Any] | None = None,
    batch_job: str = "job",
    **spec: Any,
) -> dict[str, Any]:
    """A Task as the operator creates it: labels and spec, no status."""
    return (
        make_task(name, capability, batch_job)
        .spec(index=index, priority=priority, params=params or {}, **spec)
        .obj()
    )


def create(cluster: Cluster, namespace: str, *manifests: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))


def get_task(cluster: Cluster, namespace: str, name: str) -> Task:
    out = cluster.kubectl("get", "task", name, "-n", namespace, "-o", "json").stdout
    return Task.model_validate_json(out)


def list_tasks(cluster: Cluster, namespace: str) -> list[Task]:
    out = cluster.kubectl("get", "tasks", "-n", namespace, "-o", "json").stdout
    return [Task.model_validate(item) for item in json.loads(out)["items"]]


def patch_status(cluster: Cluster, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
    cluster.kubectl(
        "patch", "task", name, "-n", namespace, "--subresource=status", "--type=json",
        "-p", json.dumps(ops),
    )  # fmt: skip


def expire_lease(cluster: Cluster, namespace: str, name: str) -> Task:
    """Do what the operator does when a lease expires: end it, count an attempt."""
    task = get_task(cluster, namespace, name)
    lease = task.status.lease
    fence = protocol.Fence(lease.holder, lease.epoch)
    ops = protocol.fail_attempt(
        task, fence, datetime.now(UTC), outcome="Expired", reason="LeaseExpired"
    )
    patch_status(cluster, namespace, name, ops)
    return get_task(cluster, namespace, name)


def wait_task(
    cluster: Cluster, namespace: str, name: str, what: str, ok: Any, timeout: float = 60
) -> Task:
    def check() -> Task | None:
        task = get_task(cluster, namespace, name)
        return task if ok(task) else None

    result: Task = wait_for(check, timeout=timeout, what=f"task {name}: {what}")
    return result


@contextmanager
def apiserver_paused(cluster: Cluster) -> Iterator[None]:
    """The harness's kube-apiserver stopped (SIGSTOP) for the block: a control-plane
    outage in which connections hang rather than fail. Skips on an existing cluster."""
    pid = Layout(cluster.kubeconfig.parent).recorded_pids().get("kube-apiserver")
    if pid is None:
        pytest.skip("needs the harness's own control plane")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_finished(cluster: Cluster, namespace: str, name: str, timeout: float = 60) -> Task:
    """The task once it Succeeded or Failed (for good)."""
    return wait_task(
        cluster,
        namespace,
        name,
        "finished",
        lambda t: t.status.phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED),
        timeout,
    )


def process_alive(pid: int) -> bool:
    """From the process table: present and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(") ", 1)[1].split()[0] != "Z"


def write_pid_command(pid_dir: Path, seconds: float) -> list[str]:
    """A command that records its pid and its child's pid, then works for `seconds`."""
    script = (
        f'sleep {seconds} & echo $! > "{pid_dir}/$TASKMILL_TASK.child"; '
        f'echo $$ > "{pid_dir}/$TASKMILL_TASK.pid"; wait; echo done'
    )
    return ["sh", "-c", script]


def running_with_pids(pid_dir: Path, name: str) -> list[int]:
    """The pids write_pid_command recorded for task `name`, once both are there."""
    pids = wait_for(
        lambda: (lambda p: p if len(p) == 2 else [])(recorded_pids(pid_dir, name)),
        timeout=30,
        what=f"{name}'s processes to start",
    )
    assert all(process_alive(pid) for pid in pids)
    return pids


def recorded_pids(pid_dir: Path, name: str) -> list[int]:
    pids = []
    for suffix in ("pid", "child"):
        path = pid_dir / f"{name}.{suffix}"
        if path.exists() and path.read_text().strip():
            pids.append(int(path.read_text()))
    return pids
