"""The content cache: one download per content however many tasks want it."""

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from taskmill.files.cache import ContentCache
from taskmill.files.client import Digest


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return sync


class Source:
    """Stands in for a download: writes the bytes, counts the calls."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0
        self.release = asyncio.Event()

    async def fill(self, target: Path) -> Digest:
        self.calls += 1
        await self.release.wait()
        await asyncio.to_thread(target.write_bytes, self.data)
        return Digest(len(self.data), "0" * 64)


@run
async def test_concurrent_tasks_share_one_download(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=1 << 20)
    source = Source(b"shared")
    dests = [tmp_path / f"task{i}" / "in.bin" for i in range(5)]
    placing = [asyncio.create_task(cache.place("id", d, source.fill)) for d in dests]
    await asyncio.sleep(0)
    source.release.set()
    await asyncio.gather(*placing)
    assert source.calls == 1
    assert cache.fetches == 1
    assert all(d.read_bytes() == b"shared" for d in dests)


@run
async def test_a_copy_written_by_the_work_leaves_the_cache_intact(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=1 << 20)
    source = Source(b"original")
    source.release.set()
    first = tmp_path / "a" / "in.bin"
    await cache.place("id", first, source.fill)
    first.write_bytes(b"scribbled")
    second = tmp_path / "b" / "in.bin"
    await cache.place("id", second, source.fill)
    assert second.read_bytes() == b"original"
    assert source.calls == 1


@run
async def test_least_recently_used_entries_go_over_the_size(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=10)
    sources = {name: Source(b"x" * 6) for name in ("a", "b")}
    for s in sources.values():
        s.release.set()
    await cache.place("a", tmp_path / "1", sources["a"].fill)
    await cache.place("b", tmp_path / "2", sources["b"].fill)
    await cache.place("a", tmp_path / "3", sources["a"].fill)
    assert sources["a"].calls == 2  # evicted when b came in
    assert len(list((tmp_path / "cache").iterdir())) == 1


@run
async def test_a_failed_download_reaches_every_waiter_and_is_not_cached(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=1 << 20)
    gate = asyncio.Event()

    async def broken(target: Path) -> Digest:
        await gate.wait()
        raise OSError("boom")

    placing = [asyncio.create_task(cache.place("id", tmp_path / f"{i}", broken)) for i in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*placing, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    good = Source(b"ok")
    good.release.set()
    await cache.place("id", tmp_path / "later", good.fill)
    assert good.calls == 1


@run
async def test_a_waiter_takes_over_a_download_its_task_abandoned(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=1 << 20)
    stalled = Source(b"never")
    first = asyncio.create_task(cache.place("id", tmp_path / "1", stalled.fill))
    await asyncio.sleep(0)
    good = Source(b"data")
    good.release.set()
    second = asyncio.create_task(cache.place("id", tmp_path / "2", good.fill))
    await asyncio.sleep(0)
    first.cancel()
    await second
    assert (tmp_path / "2").read_bytes() == b"data"
    assert (stalled.calls, good.calls) == (1, 1)
