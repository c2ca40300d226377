"""The agent's decisions around one task, against a scripted API (no cluster)."""

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from taskmill.provider.agent import Agent
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.results import Outcome, handler_outcome

from taskmill.api.task import Task
from taskmill.kube import ApiError, WatchEvent
from tests.unit.provider.tasks import task_obj

CONFIG = ProviderConfig(
    capabilities=("cap",), identity="me", namespace="ns", lease_seconds=5, grace_seconds=0.2
)


class ScriptedApi:
    """Lists one pending task, accepts its claim, answers renewals with `on_renew`."""

    def __init__(self, on_renew: Callable[[], None]) -> None:
        self.on_renew = on_renew
        self.status_patches: list[list[dict[str, Any]]] = []

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        items = [task_obj("t")] if "status.phase=Pending" in params.get("fieldSelector", "") else []
        return {"items": items, "metadata": {"resourceVersion": "5"}}

    async def watch(self, path: str, **params: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        self.status_patches.append(ops)
        claimed = copy.deepcopy(task_obj("t", phase="Running", holder="me", epoch=1))
        claimed["status"]["lease"]["durationSeconds"] = 5
        return claimed

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.status_patches.append(kwargs["body"])
        self.on_renew()
        return {}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return body

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return body

    async def delete(self, path: str) -> dict[str, Any]:
        return {}


class UntilCancelled:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        await ctx.cancelled.wait()
        self.cancelled.set()
        return handler_outcome("finished anyway")


def run_agent(api: ScriptedApi, executor: UntilCancelled, until: Callable[[], bool]) -> None:
    async def main() -> None:
        shutdown = asyncio.Event()
        agent = Agent(api, CONFIG, executor)  # type: ignore[arg-type]
        running = asyncio.create_task(agent.run(shutdown))
        for _ in range(200):
            if until():
                break
            await asyncio.sleep(0.05)
        shutdown.set()
        await asyncio.wait_for(running, 10)

    asyncio.run(main())


def ops_paths(ops: list[dict[str, Any]]) -> set[str]:
    return {op["path"] for op in ops if op["op"] != "test"}


def test_rejected_renewal_aborts_the_work_and_writes_nothing_more() -> None:
    def reject() -> None:
        raise ApiError(422, "Invalid", "test operation failed")

    api = ScriptedApi(on_renew=reject)
    executor = UntilCancelled()
    run_agent(api, executor, until=executor.cancelled.is_set)

    assert executor.cancelled.is_set()
    claim, renewal = api.status_patches
    assert {"path": "/status/phase", "op": "test", "value": "Pending"} in claim
    assert ops_paths(renewal) == {"/status/lease/renewTime"}
    assert {"op": "test", "path": "/status/lease/epoch", "value": 1} in renewal


def test_shutdown_releases_held_work_to_pending() -> None:
    api = ScriptedApi(on_renew=lambda: None)
    executor = UntilCancelled()
    run_agent(api, executor, until=lambda: len(api.status_patches) >= 1)

    release = api.status_patches[-1]
    assert {"op": "add", "path": "/status/phase", "value": "Pending"} in release
    assert "/status/attempts" not in ops_paths(release)
    lease = next(op["value"] for op in release if op["path"] == "/status/lease")
    assert (lease["holder"], lease["epoch"]) == ("", 2)


class DenyingApi(ScriptedApi):
    """An API server whose admission policy refuses every claim."""

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        self.status_patches.append(ops)
        raise ApiError(403, "Forbidden", 'tasks "t" is forbidden: ValidatingAdmissionPolicy')


def test_a_denied_claim_is_reported_once_and_retried_with_growing_pauses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = DenyingApi(on_renew=lambda: None)
    pauses: list[float] = []

    async def main() -> None:
        shutdown = asyncio.Event()

        async def pause(stopping: asyncio.Event, seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 4:
                shutdown.set()
            await asyncio.sleep(0)  # yield only: the test's clock does not run

        agent = Agent(api, CONFIG, UntilCancelled(), pause=pause)  # type: ignore[arg-type]
        await asyncio.wait_for(agent.run(shutdown), 10)

    with caplog.at_level(logging.ERROR, logger="taskmill.provider.agent"):
        asyncio.run(main())

    assert len(api.status_patches) == len(pauses)  # every denial waits before the next try
    assert pauses[0] >= 1
    assert pauses == sorted(set(pauses))  # growing
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert all(word in error for word in ("403", "RBAC", "POD_NAME"))
