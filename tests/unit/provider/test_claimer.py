"""Claiming against FakeKube: a won claim starts the work, a lost one moves on."""

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from taskmill.provider.candidates import CandidateSet
from taskmill.provider.claimer import ClaimDeniedError, Claimer
from taskmill.provider.config import ProviderConfig
from taskmill.provider.held import StopReason
from taskmill.provider.keeper import Keeper

from taskmill.api.task import Task
from taskmill.kube import ApiError
from tests.fakes.clock import ManualClock
from tests.fakes.kube import FakeKube, Request
from tests.unit.provider.executors import UntilCancelled
from tests.unit.provider.kit import CONFIG, api_with, clock_of, task_path, until
from tests.unit.provider.tasks import task_obj


class Setup:
    def __init__(
        self, api: FakeKube, *pending: dict[str, Any], config: ProviderConfig = CONFIG
    ) -> None:
        clock, rng = clock_of(ManualClock()), random.Random(0)
        self.keeper = Keeper(api, config, UntilCancelled(), clock, rng, on_freed=lambda: None)
        self.candidates = CandidateSet(config.capabilities)
        self.candidates.replace(list(pending))
        self.claimer = Claimer(api, config, self.keeper, self.candidates, clock, rng)

    def remaining(self) -> Task | None:
        return self.candidates.choose(random.Random(0), 1)

    async def close(self) -> None:
        self.keeper.stop_all(StopReason.SHUTDOWN)
        await self.keeper.works.settle()


def is_claim(request: Request) -> bool:
    return request.verb == "json_patch"


def test_a_won_claim_holds_the_lease_at_the_next_epoch() -> None:
    async def main() -> None:
        pending = task_obj("t", epoch=3)
        api = api_with(pending)
        s = Setup(api, pending)
        assert await s.claimer.claim(Task.model_validate(pending))
        lease = api.objects[task_path("t")]["status"]["lease"]
        assert (lease["holder"], lease["epoch"], lease["durationSeconds"]) == ("me", 4, 5)
        assert s.keeper.held["t"].fence.epoch == 4
        assert s.remaining() is None
        await s.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("error", "restored"),
    [
        (None, False),  # the server's task moved on: the test ops fail (422)
        (ApiError(404, "NotFound", "gone"), False),
        (ApiError(500, "InternalError", "etcd"), True),
        (TimeoutError(), True),
    ],
)
def test_a_lost_claim_starts_nothing(error: Exception | None, restored: bool) -> None:
    async def main() -> None:
        pending = task_obj("t")
        api = api_with(task_obj("t", phase="Running", holder="other", epoch=1))
        if error is not None:
            api.fail(is_claim, error)
        s = Setup(api, pending)
        assert not await s.claimer.claim(Task.model_validate(pending))
        assert s.keeper.load == 0
        assert (s.remaining() is not None) == restored

    asyncio.run(main())


def test_a_denied_claim_raises_and_keeps_the_candidate() -> None:
    async def main() -> None:
        pending = task_obj("t")
        api = api_with(pending)
        api.fail(is_claim, ApiError(403, "Forbidden", "admission policy"))
        s = Setup(api, pending)
        with pytest.raises(ClaimDeniedError):
            await s.claimer.claim(Task.model_validate(pending))
        assert (s.keeper.load, s.remaining() is not None) == (0, True)

    asyncio.run(main())


def test_no_claims_beyond_the_concurrency() -> None:
    async def main() -> None:
        first, second = task_obj("a"), task_obj("b", index=1)
        api = api_with(first, second)
        s = Setup(api, first, second)
        runner = asyncio.create_task(s.claimer.run())
        await until(lambda: s.keeper.load == 1)
        for _ in range(20):  # time for a second claim, were one allowed
            await asyncio.sleep(0)
        assert (len(s.keeper.held), len(api.sent("json_patch"))) == (1, 1)  # concurrency 1
        s.claimer.stop()
        await runner
        await s.close()

    asyncio.run(main())


def test_claims_go_one_at_a_time() -> None:
    """Claims sent together race each other's, and every other provider's, for the same
    top candidates: the next one waits for the answer."""

    async def main() -> None:
        pending = [task_obj(f"t{i}", index=i) for i in range(20)]
        api = api_with(*pending)
        s = Setup(api, *pending, config=dataclasses.replace(CONFIG, concurrency=3))
        answers = api.hold(is_claim)
        runner = asyncio.create_task(s.claimer.run())
        await until(lambda: len(api.sent("json_patch")) == 1)
        for _ in range(20):  # time for a second claim, were one sent at once
            await asyncio.sleep(0)
        assert (len(api.sent("json_patch")), s.keeper.load) == (1, 1)
        answers.set()
        await until(lambda: len(s.keeper.held) == 3)
        s.claimer.stop()
        await runner
        assert len(api.sent("json_patch")) == 3  # the fourth waits for a slot
        await s.close()

    asyncio.run(main())


def test_no_claims_beyond_a_capabilitys_own_concurrency() -> None:
    async def main() -> None:
        config = dataclasses.replace(
            CONFIG, capabilities=("cap", "other"), concurrency=3, capability_concurrency={"cap": 1}
        )
        pending = [
            task_obj("a", priority=9),
            task_obj("b", index=1, priority=9),
            task_obj("c", index=2, capability="other"),
        ]
        api = api_with(*pending)
        s = Setup(api, *pending, config=config)
        runner = asyncio.create_task(s.claimer.run())
        await until(lambda: s.keeper.load == 2)
        for _ in range(20):  # time for a third claim, were one allowed
            await asyncio.sleep(0)
        # a and b outrank c, but "cap" is at its limit of 1
        [first] = sorted(set(s.keeper.held) - {"c"})
        assert "c" in s.keeper.held
        assert len(api.sent("json_patch")) == 2
        s.keeper.held[first].stop(StopReason.SHUTDOWN)  # it ends: "cap" has room again
        await until(lambda: first not in s.keeper.held)
        s.claimer.wake()  # as the agent's on_freed does
        await until(lambda: ({"a", "b"} - {first}) <= set(s.keeper.held))
        s.claimer.stop()
        await runner
        await s.close()

    asyncio.run(main())


def test_a_draining_provider_claims_nothing_until_the_drain_is_lifted() -> None:
    async def main() -> None:
        task = task_obj("a")
        api = api_with(task)
        s = Setup(api, task)
        s.claimer.hold(True)
        runner = asyncio.create_task(s.claimer.run())
        s.claimer.wake()  # a Pending task arrived: still nothing claimed
        for _ in range(20):
            await asyncio.sleep(0)
        assert api.sent("json_patch") == []
        s.claimer.hold(False)  # the pool needs it after all
        await until(lambda: s.keeper.load == 1)
        s.claimer.stop()
        await runner
        await s.close()

    asyncio.run(main())
