"""The Python SDK: register handlers per capability and run a provider.

provider = Provider()

@provider.setup
def load():
    ...  # once per process, before the first claim

@provider.handler("image.resize", timeout=60)
async def resize(params: ResizeParams, ctx: Context) -> Resized:
    ctx.progress(50, "halfway")
    return Resized(url=...)

provider.run()
"""

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from taskmill.provider.config import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_KILL_GRACE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_PENDING_WATCH,
    PendingWatch,
    ProviderConfig,
    identity_from_env,
    namespace_from_env,
)
from taskmill.provider.handlers import Handler, HandlerRunner, Registered, register
from taskmill.provider.options import HandlerOptions, RetryPolicy
from taskmill.provider.runtime import serve, setup_logging

from taskmill.metrics import parse_bind_address

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Handler)
Hook = Callable[[], Any]  # sync, or returning an awaitable


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
        health_port: int | None = None,
        pending_watch: str = DEFAULT_PENDING_WATCH,
    ) -> None:
        self.namespace = namespace or namespace_from_env()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.grace_seconds = grace_seconds
        self.kill_grace_seconds = kill_grace_seconds
        self.identity = identity or identity_from_env()
        # Checked here, so that a bad address fails at construction, naming the argument.
        self.metrics_address = parse_bind_address(metrics_bind_address, "metrics_bind_address")
        self.health_port = health_port
        try:
            self.pending_watch = PendingWatch(pending_watch)
        except ValueError:
            choices = ", ".join(repr(w.value) for w in PendingWatch)
            raise ValueError(f"pending_watch {pending_watch!r}: must be one of {choices}") from None
        self.handlers: dict[str, Registered] = {}
        self._setups: list[Hook] = []
        self._teardowns: list[Hook] = []

    def handler(
        self,
        capability: str,
        *,
        concurrency: int | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[H], H]:
        """Register `fn(params)` or `fn(params, ctx)`, sync or async, for one capability.

        A params annotation other than dict/Any is validated with pydantic. concurrency,
        timeout and retry: see options.HandlerOptions and .RetryPolicy. Registering a second
        handler for a capability, or options that contradict each other, raises
        ValueError here, before anything is served.
        """
        options = HandlerOptions(
            concurrency=concurrency, timeout=timeout, retry=retry or RetryPolicy()
        )

        def add(fn: H) -> H:
            self.add_handler(capability, fn, options)
            return fn

        return add

    def add_handler(
        self, capability: str, fn: Handler, options: HandlerOptions | None = None
    ) -> None:
        """Register without a decorator: a bound method, a partial, a callable object."""
        if capability in self.handlers:
            raise ValueError(f"a handler for {capability!r} is already registered")
        limit = options.concurrency if options else None
        if limit is not None and limit > self.concurrency:
            raise ValueError(
                f"concurrency {limit} for {capability!r} is more than the provider's "
                f"{self.concurrency}: raise Provider(concurrency=...) or lower it"
            )
        self.handlers[capability] = register(fn, options)

    def setup(self, hook: Hook) -> Hook:
        """Run `hook()` (sync or async) once, before the first claim: load a model, open
        a pool. If it raises, the provider exits without serving."""
        self._setups.append(hook)
        return hook

    def teardown(self, hook: Hook) -> Hook:
        """Run `hook()` (sync or async) once on shutdown, after running work has ended
        or been handed back; teardowns run in reverse order of registration."""
        self._teardowns.append(hook)
        return hook

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
            health_port=self.health_port,
            pending_watch=self.pending_watch,
            capability_concurrency={
                capability: handler.options.concurrency
                for capability, handler in self.handlers.items()
                if handler.options.concurrency is not None
            },
        )

    async def serve(self, shutdown: asyncio.Event | None = None) -> None:
        """Run inside an existing event loop until SIGTERM/SIGINT or `shutdown`."""
        config = self.config()
        for hook in self._setups:
            await call_hook(hook)
        try:
            await serve(config, HandlerRunner(self.handlers), shutdown)
        finally:
            for hook in reversed(self._teardowns):
                try:
                    await call_hook(hook)
                except Exception:  # one failing teardown must not skip the others
                    log.exception("teardown %s failed", getattr(hook, "__qualname__", hook))

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; returns after a graceful shutdown."""
        setup_logging(self.identity)
        asyncio.run(self.serve())


async def call_hook(hook: Hook) -> None:
    """A sync hook runs in a thread (loading a model must not stall the event loop)."""
    if inspect.iscoroutinefunction(hook):
        await hook()
        return
    value = await asyncio.to_thread(hook)
    if inspect.isawaitable(value):
        await value
