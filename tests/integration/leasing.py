"""A test driver that plays a provider through the real lease protocol.

`LeaseDriver` owns an event loop in a background thread with one pooled client, and
offers blocking calls for tests: claim, renew, complete, fail, acknowledge a cancel,
or simply stop calling (go silent). Every write is built by taskmill.api.protocol,
exactly as a provider would send it, so the operator under test sees real traffic.
"""

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from taskmill.api import BatchJob, Task, TaskPhase, TaskResult, protocol
from taskmill.api.meta import (
    CAPABILITY_LABEL_PREFIX,
    LABEL_BATCHJOB,
    LABEL_PROVIDER,
    PROVIDER_LEASE_PREFIX,
)
from taskmill.kube import ApiError, Kube, load_connection
from taskmill.kube.paths import BATCHJOBS, EVENTS, LEASES, TASKS
from tests.builders import make_batchjob
from tests.harness import wait_for

T = TypeVar("T")


@dataclass(frozen=True)
class Held:
    """A lease this driver holds."""

    name: str
    fence: protocol.Fence


class LeaseDriver:
    def __init__(self, kubeconfig: Path, namespace: str, identity: str = "test-provider") -> None:
        self.namespace = namespace
        self.identity = identity
        self._conn = load_connection(str(kubeconfig))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._kube = Kube(self._conn, user_agent=f"taskmill-test/{identity}")
        self._run(self._kube.__aenter__())

    def close(self) -> None:
        self._run(self._kube.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> "LeaseDriver":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def get(self, path: str) -> dict[str, Any] | None:
        """Any object by URL path; None when it does not exist."""
        try:
            return self._run(self._kube.get(path))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def leader(self) -> str:
        """Holder of the operator's leader-election Lease in this namespace, "" if none."""
        lease = self.get(LEASES.path(self.namespace, "taskmill-operator")) or {}
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def events(self) -> list[tuple[str, str, str]]:
        """(kind, name, reason) of the Events in the namespace."""
        listed = self._run(self._kube.list_objects(EVENTS.path(self.namespace)))
        return [
            (e["regarding"].get("kind", ""), e["regarding"].get("name", ""), e["reason"])
            for e in listed["items"]
        ]

    def wait_event(self, kind: str, name: str, reason: str, timeout: float = 10) -> None:
        """Events are posted beside the status write, not before it: wait for one."""
        wait_for(
            lambda: (kind, name, reason) in self.events(),
            timeout=timeout,
            what=f"Event {reason} on {kind} {name}",
        )

    def raw_tasks(self) -> list[dict[str, Any]]:
        return list(self._run(self._kube.list_objects(TASKS.path(self.namespace)))["items"])

    # BatchJobs

    def create_job(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = make_batchjob(name).namespace(self.namespace).spec(**spec).obj()
        return self._run(self._kube.create(BATCHJOBS.path(self.namespace), body))

    def job(self, name: str) -> BatchJob | None:
        try:
            return BatchJob.model_validate(
                self._run(self._kube.get(BATCHJOBS.path(self.namespace, name)))
            )
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def patch_job(self, name: str, spec: dict[str, Any]) -> None:
        self._run(self._kube.merge_patch(BATCHJOBS.path(self.namespace, name), {"spec": spec}))

    # Tasks

    def tasks(self, job: str, phase: str | None = None) -> list[Task]:
        params = {"labelSelector": f"{LABEL_BATCHJOB}={job}"}
        if phase is not None:
            params["fieldSelector"] = f"status.phase={phase}"
        listed = wait_for(
            lambda: self._list_ready(TASKS.path(self.namespace), **params),
            timeout=30,
            what="the API server's cache of tasks",
        )
        tasks = [Task.model_validate(item) for item in listed["items"]]
        return sorted(tasks, key=lambda t: t.spec.index)

    def _list_ready(self, path: str, **params: str) -> dict[str, Any] | None:
        """A list, or None while a new CRD's watch cache still answers 429."""
        try:
            return self._run(self._kube.list_objects(path, **params))
        except ApiError as e:
            if e.status == 429:
                return None
            raise

    def task(self, name: str) -> Task:
        return Task.model_validate(self._run(self._kube.get(TASKS.path(self.namespace, name))))

    def _patch(self, name: str, ops: list[dict[str, Any]]) -> bool:
        path = TASKS.path(self.namespace, name, "status")
        try:
            self._run(self._kube.json_patch(path, ops))
        except ApiError as e:
            if e.conflict:
                return False
            raise
        return True

    def claim(self, task: Task, *, duration: int = 5, running: bool = True) -> Held | None:
        """Claim a Pending task as this driver's identity; None when someone else won."""
        ops = protocol.claim(
            task,
            self.identity,
            [task.spec.capability],
            _now(),
            duration_seconds=duration,
            renew_interval_seconds=max(1, duration // 3),
            start_running=running,
        )
        if not self._patch(task.metadata.name, ops):
            return None
        return Held(task.metadata.name, protocol.Fence(self.identity, task.status.lease.epoch + 1))

    def claim_pending(self, job: str, limit: int = 1000, **kw: Any) -> list[Held]:
        held = []
        for task in self.tasks(job, TaskPhase.PENDING)[:limit]:
            lease = self.claim(task, **kw)
            if lease is not None:
                held.append(lease)
        return held

    def renew(self, held: Held) -> bool:
        return self._patch(held.name, protocol.renew(held.fence, _now()))

    def complete(self, held: Held, output: str = "ok") -> bool:
        task = self.task(held.name)
        result = TaskResult(exit_code=0, output=output)
        return self._patch(held.name, protocol.succeed(task, held.fence, _now(), result))

    def fail(self, held: Held, reason: str = "NonZeroExit") -> bool:
        task = self.task(held.name)
        ops = protocol.fail_attempt(
            task,
            held.fence,
            _now(),
            outcome="Failed",
            reason=reason,
            result=TaskResult(exit_code=1, reason=reason),
        )
        return self._patch(held.name, ops)

    def acknowledge_cancel(self, held: Held) -> bool:
        task = self.task(held.name)
        ops = protocol.release(
            task, held.fence, _now(), outcome="Cancelled", reason=task.spec.cancel_reason, hold=True
        )
        return self._patch(held.name, ops)

    def run_to_completion(self, job: str, limit: int = 100_000, **kw: Any) -> int:
        """Claim and complete up to `limit` Pending tasks of the job; returns how many.

        Each task is completed right after its claim, from the claimed version, so a
        task costs exactly the two writes a provider that starts at once makes.
        """
        done = 0
        for task in self.tasks(job, TaskPhase.PENDING)[:limit]:
            held = self.claim(task, **kw)
            if held is not None:
                done += self._patch(held.name, _succeed(task, held))
        return done

    # Provider presence

    def announce(self, capabilities: list[str], duration: int = 5) -> str:
        """Create (or renew) this driver's presence Lease; returns its name."""
        name = f"{PROVIDER_LEASE_PREFIX}{self.identity}"
        now = protocol.timestamp(_now())
        labels = {LABEL_PROVIDER: "true"}
        labels |= {f"{CAPABILITY_LABEL_PREFIX}{c}": "true" for c in capabilities}
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {
                    "taskmill.io/capabilities": ",".join(capabilities),
                    "taskmill.io/concurrency": "1",
                },
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": duration,
                "renewTime": now,
                "acquireTime": now,
            },
        }
        try:
            self._run(self._kube.create(LEASES.path(self.namespace), body))
        except ApiError as e:
            if e.status != 409:
                raise
            patch = {"spec": {"renewTime": now}}
            self._run(self._kube.merge_patch(LEASES.path(self.namespace, name), patch))
        return name


def _succeed(claimed: Task, held: Held) -> list[dict[str, Any]]:
    """The completion of a task just claimed, built from the claimed version (no GET)."""
    lease = claimed.status.lease.model_copy(
        update={"holder": held.fence.holder, "epoch": held.fence.epoch}
    )
    task = claimed.model_copy(update={"status": claimed.status.model_copy(update={"lease": lease})})
    return protocol.succeed(task, held.fence, _now(), TaskResult(exit_code=0, output="ok"))


def _now() -> datetime:
    return datetime.now(UTC)
