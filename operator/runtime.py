"""Running the operator: leader election first, then, in one event loop and for as long
as this replica leads, the BatchJob, Task, provider-Lease, StatusPolicy and ProviderPool
watches (one reflector each, taskmill.operator.watching), the reconciler, the policy
review and the pool scaler (operator.pools), which the ProviderPool watch feeds."""

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from taskmill.operator.election import RENEW_DEADLINE_FRACTION, LeaderElector
from taskmill.operator.events import Recorder
from taskmill.operator.metrics import OperatorMetrics, TaskTransitions
from taskmill.operator.observer import Sight
from taskmill.operator.pools import PoolScaler
from taskmill.operator.presence import ProviderPresence, presence_reflector
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.statuspolicies import PolicyReview
from taskmill.operator.store import TASK_TOMBSTONE_FIELDS, Store
from taskmill.operator.watching import reflector

from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import BATCHJOBS, PROVIDERPOOLS, STATUSPOLICIES, TASKS
from taskmill.kube.reflector import Reflector
from taskmill.metrics import BindAddress
from taskmill.metrics.health import serving_health

log = logging.getLogger(__name__)

RENEW_PERIOD_SECONDS = 2.0


@dataclass(frozen=True)
class Config:
    namespace: str | None  # None: all namespaces
    identity: str
    lease_namespace: str
    liveness_port: int | None = None
    metrics_address: BindAddress | None = None
    leader_lease_seconds: int = 15
    review_status_policies: bool = True
    settings: Settings = field(default_factory=Settings)


@dataclass
class Health:
    """What /readyz reports: a standby is ready; a leader while its watches are synced
    and it can reach the API server."""

    sight: Sight
    elector: LeaderElector | None = None
    watches: list[Reflector] = field(default_factory=list)

    def problems(self) -> list[str]:
        if self.elector is None or not self.elector.leading:
            return []  # standing by
        problems = [f"watch of {w.path} not synced" for w in self.watches if not w.synced]
        if self.sight.since() is None:
            problems.append("the API server has not answered")
        return problems


async def run(config: Config, metrics: OperatorMetrics | None = None) -> int:
    """Returns the exit code: 1 when a part of the leader stopped (the process must
    restart). Leadership lost to another replica, or given up because it could not be
    renewed in time, makes this replica a standby again, keeping nothing of its term.

    SIGTERM and SIGINT cancel the run; leadership is then released on the way out so
    that a standby takes over at once instead of after the Lease duration.
    """
    metrics = metrics or OperatorMetrics()  # kept, if not served
    main = asyncio.current_task()
    assert main is not None
    _stop_on_signals(main)
    connection = load_connection()
    # The leader renews its Lease every `retry` seconds (client-go's default period, 2 s,
    # or less for short Leases), so no answer at all for a second longer means the API
    # server cannot be reached (taskmill.operator.observer.Sight). That must be well
    # inside the shortest task lease (5 s) so expiry pauses before any lease runs out.
    retry = min(RENEW_PERIOD_SECONDS, max(1.0, config.leader_lease_seconds / 5))
    sight = Sight(tolerance=retry + 1.0, monotonic=time.monotonic)
    health = Health(sight)
    # No request may outlast the leader's margin: a deposed leader's write must land
    # before a standby may take over (renew deadline + this <= the Lease duration).
    request_cap = config.leader_lease_seconds * (1 - RENEW_DEADLINE_FRACTION)
    async with (
        Kube(
            connection,
            user_agent="taskmill-operator",
            max_request_seconds=request_cap,
            on_heard=sight.heard,
            observer=metrics.client,
        ) as kube,
        serving_health(config.liveness_port, health.problems),
    ):
        elector = LeaderElector(
            kube,
            config.lease_namespace,
            config.identity,
            duration_seconds=config.leader_lease_seconds,
            retry_seconds=retry,
        )
        health.elector = elector
        leading = metrics.leader
        leading.set(0)
        try:
            while True:
                log.info("waiting for leadership", extra={"identity": config.identity})
                await elector.acquire()
                leading.set(1)
                try:
                    if not await _lead(kube, config, elector, sight, health, metrics):
                        return 1
                finally:
                    leading.set(0)
                log.warning("no longer leading; standing by", extra={"identity": config.identity})
        finally:
            await elector.release()


async def _lead(
    kube: Kube,
    config: Config,
    elector: LeaderElector,
    sight: Sight,
    health: Health,
    metrics: OperatorMetrics,
) -> bool:
    """One term as leader, with a store, watches and a reconciler of its own. Returns
    True when leadership ended, False when a part of the leader stopped."""
    store = Store(time.monotonic, sight, TaskTransitions(metrics))
    presence = ProviderPresence(config.settings.grace_seconds, sight)
    recorder = Recorder(kube, config.identity)
    reconciler = Reconciler(
        kube,
        store,
        presence,
        recorder,
        config.settings,
        metrics=metrics,
    )
    pools = PoolScaler(kube, store, presence, recorder)
    jobs_listed, tasks_listed = asyncio.Event(), asyncio.Event()
    review = PolicyReview(kube, lambda: datetime.now(UTC))

    def presence_changed() -> None:
        reconciler.presence_listed = True
        store.wake.set()
        pools.poke()

    def task_changed(body: dict[str, Any]) -> None:
        store.put_task(body)
        pools.poke()

    def job_deleted(body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        store.delete_job(meta.get("namespace", ""), meta.get("name", ""))

    def tasks_synced(synced: bool) -> None:
        sight.watch("tasks", synced)

    def presence_synced(synced: bool) -> None:
        # Task leases live by presence renewals: blind while those cannot be seen.
        sight.watch("presence", synced)

    tasks_synced(False)
    presence_synced(False)
    sight.on_restored = store.mark_held
    namespace = config.namespace
    health.watches = [
        reflector(
            kube,
            BATCHJOBS.path(namespace),
            on_object=store.put_job,
            on_delete=job_deleted,
            on_synced=jobs_listed.set,
            observer=metrics.client,
        ),
        reflector(
            kube,
            TASKS.path(namespace),
            on_object=task_changed,
            on_delete=store.delete_task,
            on_synced=tasks_listed.set,
            on_sync=tasks_synced,
            keep=TASK_TOMBSTONE_FIELDS,
            observer=metrics.client,
        ),
        presence_reflector(
            kube,
            namespace,
            presence,
            time.monotonic,
            presence_changed,
            metrics.client,
            on_sync=presence_synced,
        ),
        reflector(
            kube,
            PROVIDERPOOLS.path(namespace),
            on_object=pools.put,
            on_delete=pools.delete,
            observer=metrics.client,
        ),
    ]
    if config.review_status_policies:
        health.watches.append(
            reflector(
                kube,
                STATUSPOLICIES.path(),
                on_object=review.put,
                on_delete=review.delete,
                observer=metrics.client,
            )
        )
    leadership = asyncio.create_task(elector.hold(), name="leadership")
    parts = {
        *(asyncio.create_task(w.run(), name=f"watch {w.path}") for w in health.watches),
        asyncio.create_task(
            _reconcile(store, reconciler, jobs_listed, tasks_listed), name="reconciler"
        ),
        asyncio.create_task(pools.run(), name="pools"),
    }
    if config.review_status_policies:
        parts.add(asyncio.create_task(review.run(), name="status policy review"))
    try:
        done, _ = await asyncio.wait({leadership, *parts}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        health.watches = []
        sight.on_restored = lambda: None
        for task in (leadership, *parts):
            task.cancel()
        await asyncio.gather(leadership, *parts, return_exceptions=True)
    if leadership in done:
        return True
    for task in done:
        error = None if task.cancelled() else task.exception()
        log.error("%s stopped", task.get_name(), exc_info=error)
    return False


def _stop_on_signals(main: asyncio.Task[Any]) -> None:
    """SIGTERM and SIGINT cancel `main`: a requested stop, not a failure."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, main, sig)


def _request_stop(main: asyncio.Task[Any], sig: signal.Signals) -> None:
    log.info("%s received; stopping", sig.name)
    main.cancel()


async def _reconcile(
    store: Store, reconciler: Reconciler, jobs_listed: asyncio.Event, tasks_listed: asyncio.Event
) -> None:
    """Reconcile once every BatchJob and every Task is known: a first plan made from a
    partial index could exceed parallelism or the live-task bound."""
    await jobs_listed.wait()
    await tasks_listed.wait()
    tasks = sum(len(t.live) + len(t.finished) for t in store.tasks.values())
    log.info("loaded state", extra={"batchjobs": len(store.jobs), "tasks": tasks})
    await reconciler.run()
