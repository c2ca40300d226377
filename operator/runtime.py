"""Running the operator: leader election first, then kopf, the reconciler and the
provider-presence watch, all in one event loop, for as long as this replica leads."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import kopf
from aiohttp import web
from taskmill.operator.election import LeaderElector
from taskmill.operator.events import Recorder
from taskmill.operator.handlers import build_registry, kopf_settings
from taskmill.operator.kube import Kube, load_connection
from taskmill.operator.kube.paths import BATCHJOBS, TASKS
from taskmill.operator.presence import ProviderPresence, watch_presence
from taskmill.operator.reconciler import Reconciler, Settings
from taskmill.operator.store import Store

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
    """Returns the exit code: 1 when leadership was lost (the process must restart)."""
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
            return await _lead(kube, config, elector)
        finally:
            await elector.release()


async def _lead(kube: Kube, config: Config, elector: LeaderElector) -> int:
    store = Store(time.monotonic)
    await _seed(kube, store, config.namespace)
    presence = ProviderPresence(config.settings.grace_seconds)
    reconciler = Reconciler(kube, store, presence, Recorder(kube, config.identity), config.settings)

    def presence_changed() -> None:
        reconciler.presence_listed = True
        store.wake.set()

    tasks = {
        asyncio.create_task(elector.hold(), name="leadership"),
        asyncio.create_task(_kopf(store, config.namespace), name="kopf"),
        asyncio.create_task(reconciler.run(), name="reconciler"),
        asyncio.create_task(
            watch_presence(kube, config.namespace, presence, time.monotonic, presence_changed),
            name="presence",
        ),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            log.error("%s stopped", task.get_name(), exc_info=task.exception())
        else:
            log.error("%s stopped", task.get_name())
    return 1


async def _kopf(store: Store, namespace: str | None) -> None:
    await kopf.operator(
        registry=build_registry(store),
        settings=kopf_settings(),
        standalone=True,
        clusterwide=namespace is None,
        namespaces=[namespace] if namespace else (),
    )


async def _seed(kube: Kube, store: Store, namespace: str | None) -> None:
    """List jobs and tasks once before reconciling, so the first plans see every Task
    that exists (kopf's own initial listing arrives as events, in its own time)."""
    jobs = tasks = 0
    async for body in _list(kube, BATCHJOBS.path(namespace)):
        store.put_job(body)
        jobs += 1
    async for body in _list(kube, TASKS.path(namespace)):  # page by page, never all bodies
        store.put_task(body)
        tasks += 1
    log.info("loaded state", extra={"batchjobs": jobs, "tasks": tasks})


async def _list(kube: Kube, path: str) -> AsyncIterator[dict[str, Any]]:
    token = ""
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        page = await kube.list_objects(path, **params)
        for item in page.get("items", []):
            yield item
        token = page.get("metadata", {}).get("continue", "")
        if not token:
            return


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
