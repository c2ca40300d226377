"""`-w`: wait until anything the last survey listed changes (watches, never polling)."""

import asyncio
from collections.abc import Sequence

from taskmill.kube.api import ListWatch

DEBOUNCE_SECONDS = 0.3  # a burst of events re-renders once


async def changes(kube: ListWatch, sources: Sequence[tuple[str, str]]) -> None:
    """Return once some watched collection reports an event (after a short debounce)."""
    changed = asyncio.Event()

    async def watch(path: str, resource_version: str, selector: str) -> None:
        events = (
            kube.watch(path, resource_version=resource_version, labelSelector=selector)
            if selector
            else kube.watch(path, resource_version=resource_version)
        )
        try:
            async for _event in events:
                return
        finally:  # an event, or the watch ended or failed: either way, look again
            changed.set()

    tasks = []
    for source, rv in sources:
        path, _, selector = source.partition("?labelSelector=")
        tasks.append(asyncio.create_task(watch(path, rv, selector)))
    try:
        await changed.wait()
        await asyncio.sleep(DEBOUNCE_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
