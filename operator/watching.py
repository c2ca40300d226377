"""List-then-watch of one collection, straight into callbacks.

Task events are the operator's hot path (a short task makes three: created, claimed,
completed). kopf spends several milliseconds of CPU on each event even with only
`@kopf.on.event` registered (it deep-copies the body to build a diff base and detect
causes), so Tasks and provider Leases are watched here instead: one JSON decode and
the store's small row per event.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from taskmill.operator.kube import ApiError, GoneError, Kube

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
RETRY_SECONDS = 2.0
PAGE = "500"


async def list_then_watch(
    kube: Kube,
    path: str,
    *,
    on_object: Handler,
    on_delete: Handler,
    listed: asyncio.Event | None = None,
    **params: str,
) -> None:
    """Feed every object, then every change, to the callbacks; relist after a 410.

    `listed` is set once the first full list went through the callbacks. A relist
    re-feeds every object; deletions missed while the watch was gone are not replayed.
    """
    query: dict[str, Any] = dict(params)  # selectors only, never watch()'s own keywords
    while True:
        try:
            version = await list_into(kube, path, on_object, **params)
            if listed is not None:
                listed.set()
            while True:
                async for event in kube.watch(path, resource_version=version, **query):
                    version = event.object.get("metadata", {}).get("resourceVersion", version)
                    if event.type == "DELETED":
                        on_delete(event.object)
                    elif event.type in ("ADDED", "MODIFIED"):
                        on_object(event.object)
        except GoneError:
            log.info("watch expired; listing again", extra={"path": path})
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("watch failed; retrying", extra={"path": path, "error": str(e)})
            await asyncio.sleep(RETRY_SECONDS)


async def list_into(kube: Kube, path: str, on_object: Handler, **params: str) -> str:
    """Page through the collection (never every body at once); returns its version."""
    token = ""
    while True:
        page = await kube.list_objects(
            path, limit=PAGE, **params, **({"continue": token} if token else {})
        )
        for item in page.get("items", []):
            on_object(item)
        meta = page.get("metadata", {})
        token = meta.get("continue", "")
        if not token:
            return str(meta["resourceVersion"])
