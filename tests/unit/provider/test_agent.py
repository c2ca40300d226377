"""The agent's lifecycle around one task, against FakeKube (no cluster)."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

import pytest
from taskmill.provider.agent import Agent, pending_watches
from taskmill.provider.candidates import ALL, MINE, NOBODYS
from taskmill.provider.config import PendingWatch

from taskmill.kube import ApiError
from tests.fakes.kube import FakeKube, Request
from tests.unit.provider.executors import UntilCancelled
from tests.unit.provider.kit import CONFIG, api_with, is_renewal, task_path, writes_to
from tests.unit.provider.tasks import task_obj


def run_agent(api: FakeKube, executor: UntilCancelled, until: Callable[[], bool]) -> None:
    async def main() -> None:
        shutdown = asyncio.Event()
        agent = Agent(api, CONFIG, executor)
        running = asyncio.create_task(agent.run(shutdown))
        for _ in range(200):
            if until():
                break
            await asyncio.sleep(0.05)
        shutdown.set()
        await asyncio.wait_for(running, 10)

    asyncio.run(main())


CLAIM = "/status/lease,/status/normalizedStatus,/status/phase,/status/reason,/status/startTime"


def test_rejected_renewal_aborts_the_work_and_writes_nothing_more() -> None:
    api = api_with(task_obj("t"))
    api.fail(is_renewal, ApiError(422, "Invalid", "test operation failed"))
    # The lease is bound to the presence Lease: the task is written again only to
    # report progress, and that write is fenced like any other.
    executor = UntilCancelled(progress=50)
    run_agent(api, executor, until=executor.cancelled.is_set)

    assert executor.cancelled.is_set()
    assert writes_to(api, task_path("t")) == [CLAIM, "/status/lease/renewTime,/status/progress"]
    renewal = api.sent("json_patch")[-1].body
    assert {"op": "test", "path": "/status/lease/epoch", "value": 1} in renewal


def test_shutdown_releases_held_work_to_pending() -> None:
    api = api_with(task_obj("t"))
    executor = UntilCancelled()
    run_agent(api, executor, until=executor.started.is_set)

    status = api.objects[task_path("t")]["status"]
    assert (status["phase"], status["lease"]["holder"], status["lease"]["epoch"]) == (
        "Pending",
        "",
        2,
    )
    assert "attempts" not in status
    assert status["history"][-1]["reason"] == "ProviderShutdown"
    leases = [key for key in api.objects if "/leases/" in key]
    assert leases == []  # the presence Lease went with it


def is_claim(request: Request) -> bool:
    return request.verb == "json_patch" and request.path.endswith("/status")


def test_a_denied_claim_is_reported_once_and_retried_with_growing_pauses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = api_with(task_obj("t"))
    for _ in range(10):  # more than the test waits for: every claim is denied
        api.fail(is_claim, ApiError(403, "Forbidden", 'tasks "t" is forbidden: admission'))
    pauses: list[float] = []
    sent_before_pause: list[int] = []

    async def main() -> None:
        shutdown = asyncio.Event()

        async def pause(stopping: asyncio.Event, seconds: float) -> None:
            pauses.append(seconds)
            sent_before_pause.append(len(api.sent("json_patch")))
            if len(pauses) == 4:
                shutdown.set()
            await asyncio.sleep(0)  # yield only: the test's clock does not run

        agent = Agent(api, CONFIG, UntilCancelled(), pause=pause)
        await asyncio.wait_for(agent.run(shutdown), 10)

    with caplog.at_level(logging.ERROR, logger="taskmill.provider.claimer"):
        asyncio.run(main())

    # Every denial waits before the next try: the k-th pause follows the k-th claim.
    assert sent_before_pause == list(range(1, len(pauses) + 1))
    assert pauses[0] >= 1
    assert pauses == sorted(set(pauses))  # growing
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert all(word in error for word in ("403", "RBAC", "POD_NAME"))


def test_ready_once_announced_with_its_watches_current_and_not_before() -> None:
    api = api_with(task_obj("t"))
    seen: list[list[str]] = []

    async def main() -> None:
        shutdown = asyncio.Event()
        agent = Agent(api, CONFIG, UntilCancelled())
        seen.append(agent.problems())
        running = asyncio.create_task(agent.run(shutdown))
        for _ in range(200):
            if not agent.problems():
                break
            await asyncio.sleep(0.05)
        seen.append(agent.problems())
        shutdown.set()
        await asyncio.wait_for(running, 10)
        seen.append(agent.problems())

    asyncio.run(main())

    before, running, after = seen
    assert before == [
        "presence Lease not announced",
        "nominated pending watch not synced",
        "unnominated pending watch not synced",
        "held watch not synced",
    ]
    assert running == []
    assert "nominated pending watch not synced" in after  # stopped watches are not current


def test_a_cancelled_run_leaves_no_watch_on_others_nominees_behind() -> None:
    api = api_with(task_obj("theirs", nominee="other"))  # nothing of its own: hungry
    config = replace(CONFIG, pending_watch=PendingWatch.NOMINATED)

    def stealing() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == "steal-watch" and not t.done()]

    async def main() -> tuple[bool, bool]:
        running = asyncio.create_task(Agent(api, config, UntilCancelled()).run(asyncio.Event()))
        for _ in range(200):  # it opens the watch after HUNGRY_SECONDS
            if stealing():
                break
            await asyncio.sleep(0.05)
        opened = bool(stealing())
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await asyncio.sleep(0)
        return opened, bool(stealing())

    assert asyncio.run(main()) == (True, False)


@pytest.mark.parametrize(
    ("watch", "identity", "expected"),
    [
        (
            PendingWatch.NOMINATED,
            "p-1",
            {"nominated pending": {MINE}, "unnominated pending": {NOBODYS}},
        ),
        (PendingWatch.ALL, "p-1", {"pending": ALL}),
        # nobody can nominate an identity that is not a label value
        (PendingWatch.NOMINATED, "p" * 64, {"pending": ALL}),
    ],
)
def test_pending_watches(watch: PendingWatch, identity: str, expected: dict[str, object]) -> None:
    config = replace(CONFIG, pending_watch=watch, identity=identity)
    assert pending_watches(config) == expected
