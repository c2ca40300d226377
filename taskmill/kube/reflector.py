"""The reflector: list, then watch from the list's version, for as long as it runs.

One loop for every collection taskmill follows (client-go's Reflector, cut to what
taskmill needs), so that operator and providers recover from the API server alike:

- a watch that ends or fails resumes from the last resourceVersion seen (bookmarks
  included): nothing is listed again, nothing is missed;
- only a 410 Gone (that version was compacted away) lists again, and the relist
  reports what vanished meanwhile as DELETED tombstones when the handler asks for
  them (deletions during the gap are never replayed by the server);
- failures back off exponentially with jitter, and never sooner than a 429's
  Retry-After;
- a watch that stays silent (no event, not even the bookmark the API server sends
  about once a minute) is taken for a dead connection and restarted;
- `synced` says whether the cache is current: listed, and the watch open.
"""

import asyncio
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp

from taskmill.kube.api import ListWatch
from taskmill.kube.backoff import Backoff
from taskmill.kube.client import ApiError, GoneError
from taskmill.kube.observer import Observer

log = logging.getLogger(__name__)

PAGE = 500
# Server-side watch timeouts are spread so that many clients do not re-watch at once.
WATCH_TIMEOUT_RANGE = (240, 360)
# The API server sends a bookmark to watches that allow them once a minute (measured on
# v1.35: at 60.7 s, 121.1 s, ...); two and a half periods without a byte means the
# connection is dead or the server stuck, not a quiet collection.
SILENCE_SECONDS = 150.0
RETRY_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=0.5)
TRANSIENT = (ApiError, aiohttp.ClientError, TimeoutError, ValueError)

Object = dict[str, Any]


class Handler(Protocol):
    """Where a reflector delivers, in order, from one task."""

    def relisting(self) -> None:
        """A (re)list begins (again, if the last one failed part way)."""

    def listed(self, objects: list[Object]) -> None:
        """One page of a (re)list."""

    def synced(self) -> None:
        """A (re)list is complete; its tombstones, if any, were delivered before."""

    def changed(self, event_type: str, obj: Object) -> None:
        """ADDED, MODIFIED or DELETED: a watch event, or a relist's tombstone."""


class Reflector:
    """Keeps a Handler in step with the objects at `path` (selected by `params`).

    With `tombstones` set, the reflector remembers every object's key, and the spec
    fields named in `tombstones` (interned: they repeat across thousands of objects),
    to report objects a relist no longer finds as DELETED with those fields.
    """

    def __init__(
        self,
        client: ListWatch,
        path: str,
        handler: Handler,
        *,
        params: Mapping[str, str] | None = None,
        tombstones: tuple[str, ...] | None = None,
        rng: random.Random | None = None,
        backoff: Backoff = RETRY_BACKOFF,
        silence_seconds: float = SILENCE_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_sync: Callable[[bool], None] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._client = client
        self._observer = observer
        self.path = path
        self._handler = handler
        self._params = dict(params or {})
        self._known = None if tombstones is None else Known(tombstones)
        self._rng = rng or random.Random()
        self._backoff = backoff
        self._silence = silence_seconds
        self._sleep = sleep
        self._on_sync = on_sync
        self.version = ""  # the last resourceVersion seen; "" until listed
        self.synced = False  # listed, and the watch is open
        self._failures = 0

    def _sync(self, synced: bool) -> None:
        if synced != self.synced:
            self.synced = synced
            if self._on_sync is not None:
                self._on_sync(synced)

    async def run(self) -> None:
        """Until cancelled."""
        try:
            await self._run()
        finally:
            self._sync(False)

    async def _run(self) -> None:
        while True:
            try:
                if not self.version:
                    await self._list()
                await self._watch()
            except GoneError:
                log.info("watch of %s expired (410 Gone): listing again", self.path)
                self.version = ""
                self._sync(False)
            except TRANSIENT as e:
                self._sync(False)
                self._failures += 1
                if self._observer is not None:
                    self._observer.watch_restarted(self.path)
                delay = self._backoff.delay(self._failures, self._rng)
                if isinstance(e, ApiError) and e.retry_after is not None:
                    delay = max(delay, e.retry_after)
                why = f"silent for {self._silence:.0f}s" if isinstance(e, TimeoutError) else e
                log.warning("watch of %s failed (%s); retrying in %.1fs", self.path, why, delay)
                await self._sleep(delay)

    async def _list(self) -> None:
        """Page through the collection into the handler (never every body at once)."""
        missing = set() if self._known is None else self._known.keys()
        params = {**self._params, "limit": str(PAGE)}
        if self._observer is not None:
            self._observer.relisted(self.path)
        self._handler.relisting()
        while True:
            page = await self._client.list_objects(self.path, **params)
            items = page.get("items", [])
            if self._known is not None:
                for item in items:
                    missing.discard(self._known.remember(item))
            self._handler.listed(items)
            meta = page.get("metadata", {})
            if not meta.get("continue"):
                break
            params["continue"] = meta["continue"]
        if self._known is not None:
            if missing:
                log.info("%d deleted from %s while unwatched", len(missing), self.path)
            for key in sorted(missing):
                self._handler.changed("DELETED", self._known.tombstone(key))
        self._handler.synced()
        self.version = str(meta.get("resourceVersion", ""))
        log.info("listed %s at resourceVersion %s", self.path, self.version)

    async def _watch(self) -> None:
        """One watch from self.version, until the server ends it."""
        async with asyncio.timeout(self._silence) as silence:

            def heard() -> None:
                silence.reschedule(asyncio.get_running_loop().time() + self._silence)
                self._sync(True)

            stream = self._client.watch(
                self.path,
                resource_version=self.version,
                timeout_seconds=self._rng.randint(*WATCH_TIMEOUT_RANGE),
                on_open=heard,
                **self._params,
            )
            async for event in stream:
                heard()
                self._failures = 0
                meta = event.object.get("metadata", {})
                self.version = str(meta.get("resourceVersion") or self.version)
                if event.type == "BOOKMARK":
                    continue
                if self._known is not None:
                    if event.type == "DELETED":
                        self._known.forget(event.object)
                    else:
                        self._known.remember(event.object)
                self._handler.changed(event.type, event.object)


class Known:
    """The keys delivered so far, with the spec fields a tombstone carries."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self._fields = fields
        self._kept: dict[tuple[str, str], tuple[Any, ...]] = {}

    def keys(self) -> set[tuple[str, str]]:
        return set(self._kept)

    def remember(self, body: Object) -> tuple[str, str]:
        spec = body.get("spec") or {}
        key = _key(body)
        self._kept[key] = tuple(_interned(spec.get(field)) for field in self._fields)
        return key

    def forget(self, body: Object) -> None:
        self._kept.pop(_key(body), None)

    def tombstone(self, key: tuple[str, str]) -> Object:
        namespace, name = key
        kept = self._kept.pop(key)
        return {
            "metadata": {"namespace": namespace, "name": name},
            "spec": dict(zip(self._fields, kept, strict=True)),
        }


def _key(body: Object) -> tuple[str, str]:
    meta = body.get("metadata", {})
    return sys.intern(meta.get("namespace", "")), meta.get("name", "")


def _interned(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value
