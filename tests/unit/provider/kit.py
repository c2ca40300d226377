"""Shared by the provider's unit tests: a config, a FakeKube with tasks, matchers."""

import asyncio
from collections.abc import Callable
from typing import Any

from taskmill.provider.clock import Clock
from taskmill.provider.config import ProviderConfig

from taskmill.kube.paths import TASKS
from tests.fakes.clock import ManualClock
from tests.fakes.kube import FakeKube, Request
from tests.unit.provider.tasks import task_obj

CONFIG = ProviderConfig(
    capabilities=("cap",),
    identity="me",
    namespace="ns",
    lease_seconds=5,
    grace_seconds=0.2,
    kill_grace_seconds=1,
)


def task_path(name: str) -> str:
    return TASKS.path("ns", name)


def api_with(*objs: dict[str, Any]) -> FakeKube:
    api = FakeKube()
    for obj in objs:
        api.put(TASKS.path("ns"), obj)
    return api


def clock_of(manual: ManualClock) -> Clock:
    return Clock(wall=manual.wall, mono=manual.mono)


def writes_to(api: FakeKube, path: str) -> list[str]:
    """The non-test op paths of every status PATCH of the object, in order (one set each)."""
    return [
        ",".join(sorted({op["path"] for op in r.body if op["op"] != "test"}))
        for r in api.sent("json_patch")
        if r.path == f"{path}/status"
    ]


def is_renewal(request: Request) -> bool:
    return (
        request.verb == "json_patch"
        and any(
            op.get("path") == "/status/lease/renewTime" and op["op"] == "add"
            for op in request.body
            if isinstance(op, dict)
        )
        and not any(op.get("path") == "/status/lease" for op in request.body)
    )


def is_final(request: Request) -> bool:
    return request.verb == "json_patch" and any(
        op.get("path") == "/status/lease" and op["value"].get("holder") == ""
        for op in request.body
        if isinstance(op, dict)
    )


def running(name: str = "t", epoch: int = 1, **kw: Any) -> dict[str, Any]:
    obj = task_obj(name, phase="Running", holder="me", epoch=epoch, **kw)
    obj["status"]["lease"]["durationSeconds"] = 5
    return obj


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Let other coroutines (and the threads they wait for) run until `condition` holds.

    The injected clocks do not move meanwhile: only the event loop's own does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.001)
