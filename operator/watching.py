"""List-then-watch of one collection, straight into callbacks.

Task events are the operator's hot path (a short task makes three: created, claimed,
completed). kopf spends several milliseconds of CPU on each event even with only
`@kopf.on.event` registered (it deep-copies the body to build a diff base and detect
causes), so Tasks and provider Leases are watched here instead: one JSON decode and
the store's small row per event.
"""

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import aiohttp

from taskmill.kube import ApiError, GoneError, Kube

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
    keep: tuple[str, ...] = (),
    **params: str,
) -> None:
    """Feed every object, then every change, to the callbacks; relist after a 410.

    `listed` is set once the first full list went through the callbacks. A relist
    re-feeds every object and reports what it no longer holds as deleted: on_delete
    then gets a tombstone, metadata.namespace/name plus the spec fields named in `keep`.
    """
    query: dict[str, Any] = dict(params)  # selectors only, never watch()'s own keywords
    fed = Fed(keep)
    while True:
        try:
            version = await fed.relist(kube, path, on_object, on_delete, **params)
            if listed is not None:
                listed.set()
            while True:
                async for event in kube.watch(path, resource_version=version, **query):
                    version = event.object.get("metadata", {}).get("resourceVersion", version)
                    if event.type == "DELETED":
                        fed.forget(event.object)
                        on_delete(event.object)
                    elif event.type in ("ADDED", "MODIFIED"):
                        fed.remember(event.object)
                        on_object(event.object)
        except GoneError:
            log.info("watch expired; listing again", extra={"path": path})
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("watch failed; retrying", extra={"path": path, "error": str(e)})
            await asyncio.sleep(RETRY_SECONDS)


class Fed:
    """The objects fed so far, as small tuples: key -> the `keep` spec fields.

    Deletions that happen while no watch runs are never replayed; a relist finds them
    as keys it no longer lists. Namespaces and kept values (a Task's job name) repeat
    across 100,000 Tasks: they are interned, so each costs one string.
    """

    def __init__(self, keep: tuple[str, ...]) -> None:
        self._keep = keep
        self._kept: dict[tuple[str, str], tuple[Any, ...]] = {}

    def remember(self, body: dict[str, Any]) -> tuple[str, str]:
        spec = body.get("spec") or {}
        key = _key(body)
        self._kept[key] = tuple(_interned(spec.get(field)) for field in self._keep)
        return key

    def forget(self, body: dict[str, Any]) -> None:
        self._kept.pop(_key(body), None)

    async def relist(
        self, kube: Kube, path: str, on_object: Handler, on_delete: Handler, **params: str
    ) -> str:
        """List into on_object, then on_delete a tombstone of every key not listed."""
        missing = set(self._kept)

        def put(body: dict[str, Any]) -> None:
            missing.discard(self.remember(body))
            on_object(body)

        version = await list_into(kube, path, put, **params)
        if missing:
            log.info("deleted while unwatched", extra={"path": path, "count": len(missing)})
        for key in missing:
            on_delete(self._tombstone(key, self._kept.pop(key)))
        return version

    def _tombstone(self, key: tuple[str, str], kept: tuple[Any, ...]) -> dict[str, Any]:
        namespace, name = key
        return {
            "metadata": {"namespace": namespace, "name": name},
            "spec": dict(zip(self._keep, kept, strict=True)),
        }


def _key(body: dict[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata", {})
    return sys.intern(meta.get("namespace", "")), meta.get("name", "")


def _interned(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


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
