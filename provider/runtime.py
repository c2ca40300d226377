"""Process plumbing shared by the command provider and the SDK: logging, signals, client."""

import asyncio
import logging
import os
import signal
import sys

from taskmill.provider.agent import Agent
from taskmill.provider.cli import stores_file
from taskmill.provider.config import ProviderConfig
from taskmill.provider.keeper import Executor
from taskmill.provider.metrics import ProviderMetrics
from taskmill.provider.presence import IdentityInUseError
from taskmill.provider.staging import Staging

from taskmill.files.stores import StoreConfigError, Stores, load_stores
from taskmill.kube import Kube, load_connection
from taskmill.metrics import BindAddressError
from taskmill.metrics import serve as serve_metrics
from taskmill.metrics.health import serving_health

log = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_IDENTITY_IN_USE = 3


def setup_logging(identity: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {identity} %(name)s: %(message)s",
    )


async def serve(
    config: ProviderConfig, executor: Executor, shutdown: asyncio.Event | None = None
) -> None:
    """Run the agent until SIGTERM/SIGINT (or `shutdown`), then shut down gracefully."""
    shutdown = shutdown or asyncio.Event()
    metrics = ProviderMetrics(config.concurrency)
    if config.metrics_address is not None:
        try:
            serve_metrics(config.metrics_address, metrics.registry)
        except BindAddressError as e:
            log.error("%s", e)
            raise SystemExit(EXIT_USAGE) from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, shutdown)
    staging = Staging(executor, _stores(config))
    try:
        conn = load_connection()
        user_agent = f"taskmill-provider/{config.identity}"
        async with Kube(conn, user_agent=user_agent, observer=metrics.client) as kube:
            agent = Agent(kube, config, staging, metrics=metrics)
            async with serving_health(config.health_port, agent.problems):
                await agent.run(shutdown)
    except IdentityInUseError as e:
        log.error("%s", e)
        raise SystemExit(EXIT_IDENTITY_IN_USE) from None
    finally:
        staging.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("provider %s stopped", config.identity)


def _stores(config: ProviderConfig) -> Stores | None:
    """The stores file's stores (the SDK's providers find it in $TASKMILL_STORES)."""
    path = config.stores_file or stores_file(None, os.environ)
    if path is None:
        return None
    try:
        return load_stores(path)
    except StoreConfigError as e:
        log.error("%s", e)
        raise SystemExit(EXIT_USAGE) from None


def _on_signal(sig: signal.Signals, shutdown: asyncio.Event) -> None:
    log.info("received %s", sig.name)
    shutdown.set()
