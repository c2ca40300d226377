"""A presence lapse is read back from the real API server before it ends any lease,
or replaces the holder's pod.

The operator judges a lapse from its presence watch; a watch that lags would let it end
the leases of a holder whose renewal the API server already has, and a second holder
run the same tasks. Here the watch is held back completely: the reconciler runs in this
process on the real API server, its presence view fed once by hand and never again,
while the holder renews its Lease in the API server. Clocks: the observer clock is the
test's; the Lease's timestamps are the real ones, as a provider writes them.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from taskmill.operator.events import Recorder
from taskmill.operator.pools import PoolScaler
from taskmill.operator.presence import ProviderPresence
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.store import Store

from taskmill.api import Task, protocol
from taskmill.api.meta import LABEL_BATCHJOB
from taskmill.kube import ApiError, Kube, load_connection
from taskmill.kube.paths import BATCHJOBS, LEASES, PODS, PROVIDERPOOLS, TASKS
from tests.builders import make_batchjob, make_provider_deployment
from tests.harness import Cluster

HOLDER = "lagged"
LEASE_NAME = f"taskmill-provider-{HOLDER}"


def presence_lease(namespace: str) -> dict[str, Any]:
    now = protocol.timestamp(datetime.now(UTC))
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": LEASE_NAME,
            "namespace": namespace,
            "labels": {"taskmill.io/provider": "true", "capability.taskmill.io/work": "true"},
            "annotations": {"taskmill.io/instance": "i1", "taskmill.io/concurrency": "2"},
        },
        "spec": {
            "holderIdentity": HOLDER,
            "leaseDurationSeconds": 5,
            "renewTime": now,
            "acquireTime": now,
        },
    }


class Operator:
    """The reconciler with a store and presence view the test feeds (no watches), on
    an observer clock the test moves."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.mono = 0.0
        self.store = Store(lambda: self.mono)
        self.presence = ProviderPresence(grace_seconds=1.0)

    async def one_pass(self) -> None:
        """One pass over the job, as the leader's loop makes it (a new pass reads a
        lapsed Lease again)."""
        reconciler = Reconciler(
            self.kube,
            self.store,
            self.presence,
            Recorder(self.kube, "op"),
            Settings(status_interval_seconds=0.0),
            monotonic=lambda: self.mono,
        )
        reconciler.presence_listed = True  # the test feeds the presence view itself
        await reconciler.reconcile((self.namespace, "lag"))

    async def tasks(self) -> list[Task]:
        listed = await self.kube.list_objects(
            TASKS.path(self.namespace), labelSelector=f"{LABEL_BATCHJOB}=lag"
        )
        return [Task.model_validate(t) for t in listed["items"]]

    async def claim_all(self) -> None:
        """The holder claims every Task, bound to its presence Lease (instance i1); the
        store sees the claims as the task watch would."""
        for task in await self.tasks():
            ops = protocol.claim(
                task,
                HOLDER,
                ["work"],
                datetime.now(UTC),
                duration_seconds=5,
                renew_interval_seconds=1,
                presence_instance="i1",
            )
            path = TASKS.path(self.namespace, task.metadata.name, "status")
            self.store.put_task(await self.kube.json_patch(path, ops))


def scenario(
    cluster: Cluster, namespace: str, steps: Callable[[Operator], Awaitable[list[Task]]]
) -> list[Task]:
    async def run() -> list[Task]:
        async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
            op = Operator(kube, namespace)
            job = make_batchjob("lag", "work").range(end=2).spec(lease={"durationSeconds": 5})
            op.store.put_job(await kube.create(BATCHJOBS.path(namespace), job.obj()))
            lease = await kube.create(LEASES.path(namespace), presence_lease(namespace))
            op.presence.put(lease, op.mono)  # the last presence event the watch delivers
            await op.one_pass()  # records the split and creates both Tasks
            await op.claim_all()
            return await steps(op)

    return asyncio.run(run())


def test_a_renewal_the_watch_has_not_delivered_keeps_the_leases(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    async def steps(op: Operator) -> list[Task]:
        op.mono = 7.0  # past the Lease's 5 s plus grace, as the watch last showed it
        renewal = {"spec": {"renewTime": protocol.timestamp(datetime.now(UTC))}}
        await op.kube.merge_patch(LEASES.path(namespace, LEASE_NAME), renewal)
        await op.one_pass()
        return await op.tasks()

    tasks = scenario(cluster, namespace, steps)

    assert [(t.status.lease.holder, t.status.history) for t in tasks] == [(HOLDER, [])] * 2


def test_a_lapse_the_api_server_confirms_ends_every_lease(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    async def steps(op: Operator) -> list[Task]:
        op.mono = 7.0
        await op.one_pass()
        return await op.tasks()

    tasks = scenario(cluster, namespace, steps)

    ended = [[(h.holder, h.outcome, h.reason) for h in t.status.history] for t in tasks]
    assert ended == [[(HOLDER, "Expired", "ProviderLost")]] * 2
    assert all(t.status.lease.holder == "" for t in tasks)


def pool_scenario(cluster: Cluster, namespace: str, *, renewed: bool) -> tuple[bool, bool]:
    """A ProviderPool whose provider looks lapsed to the pool loop's presence view (fed
    once, never again); the holder's pod is there. Whether the pod and the presence
    Lease are still there after one pass of the loop."""

    async def run() -> tuple[bool, bool]:
        async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
            mono = 0.0
            presence = ProviderPresence(grace_seconds=1.0)
            scaler = PoolScaler(
                kube, Store(lambda: mono), presence, Recorder(kube, "op"), monotonic=lambda: mono
            )
            deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
            await kube.create(deployments, make_provider_deployment(POOL_APP, "taskmill:test"))
            pod = {"metadata": {"name": HOLDER, "labels": {"app": POOL_APP}}, "spec": POD_SPEC}
            await kube.create(PODS.path(namespace), pod)
            presence.put(await kube.create(LEASES.path(namespace), presence_lease(namespace)), mono)
            mono = 7.0  # past the Lease's 5 s plus grace, as the watch last showed it
            if renewed:
                renewal = {"spec": {"renewTime": protocol.timestamp(datetime.now(UTC))}}
                await kube.merge_patch(LEASES.path(namespace, LEASE_NAME), renewal)
            scaler.put(await kube.create(PROVIDERPOOLS.path(namespace), lag_pool()))
            loop = asyncio.create_task(scaler.run())
            try:
                await until_status(kube, namespace)
            finally:
                loop.cancel()
            return (
                await exists(kube, PODS.path(namespace, HOLDER)),
                await exists(kube, LEASES.path(namespace, LEASE_NAME)),
            )

    return asyncio.run(run())


POOL_APP = "lag-pool"
POD_SPEC = {"containers": [{"name": "provider", "image": "taskmill:test"}]}


def lag_pool() -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "ProviderPool",
        "metadata": {"name": "lag"},
        "spec": {
            "capabilities": ["work"],
            "concurrency": 2,
            "maxReplicas": 1,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": POOL_APP},
        },
    }


async def until_status(kube: Kube, namespace: str) -> None:
    """Until the pool loop wrote the pool's status: its pass is over."""

    async def observed() -> int:
        pool = await kube.get(PROVIDERPOOLS.path(namespace, "lag"))
        return int(pool.get("status", {}).get("observedGeneration") or 0)

    async with asyncio.timeout(30):
        while not await observed():  # noqa: ASYNC110 (it polls the API server, not a flag)
            await asyncio.sleep(0.1)


async def exists(kube: Kube, path: str) -> bool:
    try:
        body = await kube.get(path)
    except ApiError as e:
        if e.status != 404:
            raise
        return False
    return not body["metadata"].get("deletionTimestamp")


def test_the_pool_loop_replaces_no_pod_whose_renewal_the_watch_has_not_delivered(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    assert pool_scenario(cluster, namespace, renewed=True) == (True, True)


def test_the_pool_loop_replaces_a_pod_whose_lapse_the_api_server_confirms(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    assert pool_scenario(cluster, namespace, renewed=False) == (False, False)
