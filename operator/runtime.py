"""Running the operator: leader election first, then, in one event loop and for as long
as this replica leads, kopf (BatchJob events), the Task and provider-Lease watches
(taskmill.operator.watching: the hot path, kept out of kopf) and the reconciler."""

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import kopf
from aiohttp import web
from taskmill.operator.election import LeaderElector
from taskmill.operator.events import Recorder
from taskmill.operator.handlers import build_registry, kopf_settings
from taskmill.operator.presence import ProviderPresence, watch_presence
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.store import TASK_TOMBSTONE_FIELDS, Store
from taskmill.operator.watching import list_into, list_then_watch

from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import BATCHJOBS, TASKS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    namespace: str | None  # None: all namespaces
    identity: str
    lease_namespace: str
    liveness_port: int | None = None
    leader_lease_seconds: int = 15
    settings: Settings = field(default_factory=Settings)


async def run(config: Config) -> int:
    """Returns the exit code: 1 when leadership was lost or a part of the leader stopped
    (the process must restart).

    SIGTERM and SIGINT cancel the run; leadership is then released on the way out so
    that a standby takes over at once instead of after the Lease duration.
    """
    main = asyncio.current_task()
    assert main is not None
    _stop_on_signals(main)
    connection = load_connection()
    async with (
        Kube(connection, user_agent="taskmill-operator") as kube,
        _liveness(config.liveness_port),
    ):
        elector = LeaderElector(
            kube,
            config.lease_namespace,
            config.identity,
            duration_seconds=config.leader_lease_seconds,
            retry_seconds=max(1.0, config.leader_lease_seconds / 5),
        )
        log.info("waiting for leadership", extra={"identity": config.identity})
        await elector.acquire()
        try:
            return await _lead(kube, config, elector, main)
        finally:
            await elector.release()


async def _lead(kube: Kube, config: Config, elector: LeaderElector, main: asyncio.Task[Any]) -> int:
    store = Store(time.monotonic)
    presence = ProviderPresence(config.settings.grace_seconds)
    reconciler = Reconciler(kube, store, presence, Recorder(kube, config.identity), config.settings)
    tasks_listed = asyncio.Event()

    def presence_changed() -> None:
        reconciler.presence_listed = True
        store.wake.set()

    namespace = config.namespace
    tasks = {
        asyncio.create_task(elector.hold(), name="leadership"),
        asyncio.create_task(_kopf(store, namespace, main), name="kopf"),
        asyncio.create_task(
            list_then_watch(
                kube,
                TASKS.path(namespace),
                on_object=store.put_task,
                on_delete=store.delete_task,
                listed=tasks_listed,
                keep=TASK_TOMBSTONE_FIELDS,
            ),
            name="tasks",
        ),
        asyncio.create_task(
            watch_presence(kube, namespace, presence, time.monotonic, presence_changed),
            name="presence",
        ),
        asyncio.create_task(
            _reconcile(kube, store, reconciler, namespace, tasks_listed), name="reconciler"
        ),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        log.error("%s stopped", task.get_name(), exc_info=error)
    return 1


def _stop_on_signals(main: asyncio.Task[Any]) -> None:
    """SIGTERM and SIGINT cancel `main`: a requested stop, not a failure."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, main, sig)


def _request_stop(main: asyncio.Task[Any], sig: signal.Signals) -> None:
    log.info("%s received; stopping", sig.name)
    main.cancel()


async def _kopf(store: Store, namespace: str | None, main: asyncio.Task[Any]) -> None:
    """kopf takes SIGTERM and SIGINT for itself as it starts; the run takes them back once
    kopf is ready. Left to kopf, a signal stops kopf alone, after waiting 5 s for every
    task created since it started (ours too), and the run takes that for a crash."""
    ready = asyncio.Event()

    async def take_back_signals() -> None:
        await ready.wait()
        _stop_on_signals(main)

    taking_back = asyncio.create_task(take_back_signals())
    try:
        await kopf.operator(
            registry=build_registry(store),
            settings=kopf_settings(),
            standalone=True,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            ready_flag=ready,
        )
    finally:
        taking_back.cancel()


async def _reconcile(
    kube: Kube,
    store: Store,
    reconciler: Reconciler,
    namespace: str | None,
    tasks_listed: asyncio.Event,
) -> None:
    """Reconcile once every BatchJob and every Task is known: a first plan made from a
    partial index could exceed parallelism or the live-task bound."""
    await list_into(kube, BATCHJOBS.path(namespace), store.put_job)
    await tasks_listed.wait()
    tasks = sum(len(t.live) + len(t.finished) for t in store.tasks.values())
    log.info("loaded state", extra={"batchjobs": len(store.jobs), "tasks": tasks})
    await reconciler.run()


@contextlib.asynccontextmanager
async def _liveness(port: int | None) -> Any:
    """/healthz answers while the event loop runs, leader or standby."""
    if port is None:
        yield
        return
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")
