"""The shared reflector against the real API server: events of any size it stores."""

import asyncio
import json
from typing import Any

from taskmill.kube import Kube, load_connection
from taskmill.kube.paths import TASKS
from taskmill.kube.reflector import Reflector
from tests.harness import Cluster

TIMEOUT = 30.0


class Names:
    """A Handler that keeps the names it was told about, and their params' sizes."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.arrived = asyncio.Event()

    def relisting(self) -> None:
        pass

    def listed(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.changed("ADDED", obj)

    def synced(self) -> None:
        pass

    def changed(self, event_type: str, obj: dict[str, Any]) -> None:
        params = obj.get("spec", {}).get("params", {})
        self.sizes[obj["metadata"]["name"]] = len(json.dumps(params))
        self.arrived.set()


def task(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"batchJob": "big", "index": 0, "capability": "cap", "params": params},
    }


def test_a_task_with_a_mebibyte_of_params_neither_ends_nor_stalls_the_watch(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    # aiohttp's line iteration gives up at 128 KiB: such a Task ended the operator's
    # watch (and looped a provider's forever on the same event).
    big = {"blob": "x" * (1 << 20)}
    path = TASKS.path(namespace)

    async def scenario() -> tuple[Names, Reflector]:
        names = Names()
        async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
            watching = asyncio.Event()

            def on_sync(synced: bool) -> None:
                if synced:
                    watching.set()

            reflector = Reflector(kube, path, names, on_sync=on_sync)
            running = asyncio.create_task(reflector.run())
            try:
                async with asyncio.timeout(TIMEOUT):
                    await watching.wait()
                    await kube.create(path, task("big-0", big))
                    await kube.create(path, task("small-0", {"n": 1}))
                    while "small-0" not in names.sizes:
                        await names.arrived.wait()
                        names.arrived.clear()
                    assert reflector.synced
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        return names, reflector

    names, _ = asyncio.run(scenario())
    assert names.sizes["big-0"] > 1 << 20
    assert names.sizes["small-0"] < 100
