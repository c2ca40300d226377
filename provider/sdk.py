"""The Python SDK: register handlers per capability and run a provider.

provider = Provider()

@provider.handler("image.resize")
async def resize(params, ctx):
    ctx.progress(50, "halfway")
    return {"ok": True}

provider.run()
"""

import asyncio
from collections.abc import Callable

from taskmill.provider.config import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_KILL_GRACE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    ProviderConfig,
    identity_from_env,
    namespace_from_env,
)
from taskmill.provider.handlers import Handler, HandlerRunner
from taskmill.provider.runtime import serve, setup_logging

from taskmill.metrics import parse_bind_address


class Provider:
    """A provider whose capabilities are the handlers registered on it."""

    def __init__(
        self,
        *,
        namespace: str | None = None,
        concurrency: int = 1,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
        identity: str | None = None,
        metrics_bind_address: str = "0",
    ) -> None:
        self.namespace = namespace or namespace_from_env()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.grace_seconds = grace_seconds
        self.kill_grace_seconds = kill_grace_seconds
        self.identity = identity or identity_from_env()
        # Checked here, so that a bad address fails at construction, naming the argument.
        self.metrics_address = parse_bind_address(metrics_bind_address, "metrics_bind_address")
        self.handlers: dict[str, Handler] = {}

    def handler(self, capability: str) -> Callable[[Handler], Handler]:
        """Register `fn(params, ctx)` (sync or async) for one capability."""

        def register(fn: Handler) -> Handler:
            if capability in self.handlers:
                raise ValueError(f"a handler for {capability!r} is already registered")
            self.handlers[capability] = fn
            return fn

        return register

    def config(self) -> ProviderConfig:
        return ProviderConfig(
            capabilities=tuple(self.handlers),
            identity=self.identity,
            namespace=self.namespace,
            concurrency=self.concurrency,
            lease_seconds=self.lease_seconds,
            grace_seconds=self.grace_seconds,
            kill_grace_seconds=self.kill_grace_seconds,
            metrics_address=self.metrics_address,
        )

    async def serve(self, shutdown: asyncio.Event | None = None) -> None:
        """Run inside an existing event loop until SIGTERM/SIGINT or `shutdown`."""
        config = self.config()
        await serve(config, HandlerRunner(self.handlers), shutdown)

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; returns after a graceful shutdown."""
        setup_logging(self.identity)
        asyncio.run(self.serve())
