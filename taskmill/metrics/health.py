"""/healthz and /readyz, served from the component's own event loop.

/healthz answers while the loop runs (a hung loop fails the liveness probe); /readyz
answers 503 with the component's list of problems (watches not synced, the API server
not answering), so a stuck watch makes the process unready rather than silently stale.
"""

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web


@contextlib.asynccontextmanager
async def serving_health(
    port: int | None, problems: Callable[[], list[str]]
) -> AsyncIterator[None]:
    """Serve both endpoints on `port` (all interfaces) for the block; None: nothing."""
    if port is None:
        yield
        return

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        found = problems()
        if found:
            return web.Response(status=503, text="\n".join(found))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        yield
    finally:
        await runner.cleanup()
