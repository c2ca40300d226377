"""A provider's content cache: an input many tasks share is fetched once.

Entries are keyed by what identifies an object's content in the store (store, bucket,
key, etag, size), filled by one download at a time per entry however many tasks ask
at once, and copied into each task's working directory, so that work that writes to
its input never alters the cached copy. The least recently used entries go when the
cache is over its size.
"""

import asyncio
import contextlib
import hashlib
import shutil
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from taskmill.files.client import Digest

Fill = Callable[[Path], Awaitable[Digest]]


class ContentCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, Digest] = OrderedDict()
        self._filling: dict[str, asyncio.Future[Digest]] = {}
        self._in_use: dict[str, int] = {}
        self.fetches = 0  # downloads made (the rest were served from the cache)

    async def place(self, identity: str, dest: Path, fill: Fill) -> Digest:
        """Put the content named by `identity` at `dest`, downloading it with `fill`
        only if no entry holds it."""
        name = hashlib.sha256(identity.encode()).hexdigest()
        self._in_use[name] = self._in_use.get(name, 0) + 1
        try:
            digest = await self._entry(name, fill)
            dest.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, self._root / name, dest)
            return digest
        finally:
            self._in_use[name] -= 1
            if not self._in_use[name]:
                del self._in_use[name]
            self._evict()

    async def _entry(self, name: str, fill: Fill) -> Digest:
        while name in self._filling:
            filling = self._filling[name]
            # A fill abandoned by its task (cancelled) is taken over by a waiter.
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.shield(filling)
            if not filling.cancelled():
                raise asyncio.CancelledError  # this waiter itself was cancelled
        if name in self._entries:
            self._entries.move_to_end(name)
            return self._entries[name]
        future: asyncio.Future[Digest] = asyncio.get_running_loop().create_future()
        self._filling[name] = future
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self.fetches += 1
            digest = await fill(self._root / name)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._filling[name]
        future.set_result(digest)
        self._entries[name] = digest
        return digest

    def _evict(self) -> None:
        total = sum(d.size for d in self._entries.values())
        for name in list(self._entries):
            if total <= self._max_bytes:
                return
            if name in self._in_use:
                continue
            total -= self._entries.pop(name).size
            (self._root / name).unlink(missing_ok=True)
