"""Run-first tasks (spec.claim Optimistic): the decisions, then the runs against FakeKube."""

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from taskmill.provider.agent import PendingTasks
from taskmill.provider.candidates import CandidateSet
from taskmill.provider.claimer import Claimer
from taskmill.provider.held import StopReason
from taskmill.provider.keeper import Executor, Keeper
from taskmill.provider.metrics import ProviderMetrics
from taskmill.provider.nominees import NOMINATION_GRACE_SECONDS
from taskmill.provider.results import Outcome, handler_outcome
from taskmill.provider.runfirst import Answer, RunFirst, Stop, answer_of, final_patch

from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.task import Task, TaskResult
from taskmill.kube import ApiError
from tests.fakes.clock import ManualClock
from tests.fakes.kube import FakeKube
from tests.unit.provider.executors import Returns, UntilCancelled
from tests.unit.provider.kit import CONFIG, api_with, clock_of, task_path, until
from tests.unit.provider.tasks import task_obj

STARTED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
TASK_COLLECTION = task_path("t").rsplit("/", 1)[0]
FAILED = Outcome(succeeded=False, result=TaskResult(exit_code=1, reason="NonZeroExit"))


TIMEOUT = 5  # spec.timeoutSeconds of the Optimistic tasks here


def optimistic(name: str = "t", **kw: Any) -> dict[str, Any]:
    obj = task_obj(name, **kw)
    obj["metadata"]["uid"] = f"uid-{name}"
    obj["spec"] |= {"claim": "Optimistic", "timeoutSeconds": TIMEOUT, "maxAttempts": 2}
    obj["status"]["attempts"] = 0  # the CRD's default
    return obj


def nominated(name: str, nominee: str, **kw: Any) -> dict[str, Any]:
    """An Optimistic task the operator nominated `nominee` to run first."""
    obj = optimistic(name, **kw)
    obj["metadata"]["labels"][LABEL_NOMINEE] = nominee
    return obj


def _values(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {op["path"]: op["value"] for op in ops if op["op"] == "add"}


def _tests(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {op["path"]: op["value"] for op in ops if op["op"] == "test"}


# (case, outcome, stop, phase written (None: nothing), history outcome, attempts written)
DECISIONS: list[tuple[str, Outcome, Stop | None, str | None, str, int | None]] = [
    ("success", handler_outcome("ok"), None, "Succeeded", "Succeeded", None),
    ("success-at-the-timeout", handler_outcome("ok"), Stop.TIMEOUT, "Succeeded", "Succeeded", None),
    ("failure-is-retried", FAILED, None, "Held", "Failed", 1),
    ("timeout-counts-an-attempt", FAILED, Stop.TIMEOUT, "Held", "TimedOut", 1),
    ("shutdown-writes-nothing", handler_outcome("ok"), Stop.SHUTDOWN, None, "", None),
    ("left-pending-writes-nothing", handler_outcome("ok"), Stop.GONE, None, "", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "stop", "phase", "history", "attempts"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_the_one_write_claims_and_reports_together(
    outcome: Outcome, stop: Stop | None, phase: str | None, history: str, attempts: int | None
) -> None:
    task = Task.model_validate(optimistic(epoch=4))
    ops = final_patch(task, "me", STARTED, NOW, outcome, stop)
    if phase is None:
        assert ops is None
        return
    assert ops is not None
    # The compare-and-swap: the same object, still Pending, free, as the run saw it.
    assert _tests(ops) == {
        "/metadata/uid": "uid-t",
        "/status/phase": "Pending",
        "/status/lease/holder": "",
        "/status/lease/epoch": 4,
        "/status/attempts": 0,
    }
    values = _values(ops)
    assert values["/status/phase"] == phase
    # The lease this write held (epoch 5) is ended, as a claim and a final write would.
    assert values["/status/lease"] == {"holder": "", "capabilities": [], "epoch": 6}
    assert [(h["holder"], h["epoch"], h["outcome"]) for h in values["/status/history"]] == [
        ("me", 5, history)
    ]
    assert values["/status/startTime"] == "2026-01-01T00:00:00.000000Z"
    assert values.get("/status/attempts") == attempts


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (ApiError(422, "Invalid", "test failed"), Answer.LOST),
        (ApiError(409, "Conflict", "modified"), Answer.LOST),
        (ApiError(404, "NotFound", "gone"), Answer.GONE),
        (ApiError(403, "Forbidden", "an older admission policy"), Answer.DENIED),
        (ApiError(500, "InternalError", "etcd"), None),  # sent again, as it is
        (ApiError(429, "TooManyRequests", "slow down"), None),
    ],
)
def test_only_a_transient_error_sends_the_write_again(error: ApiError, answer: Answer) -> None:
    assert answer_of(error) == answer


class Setup:
    def __init__(self, api: FakeKube, executor: Executor, *pending: dict[str, Any]) -> None:
        self.manual = ManualClock()
        clock, rng = clock_of(self.manual), random.Random(0)
        self.freed = 0
        self.metrics = ProviderMetrics(CONFIG.concurrency)
        self.keeper = Keeper(api, CONFIG, executor, clock, rng, on_freed=self._freed)
        self.candidates = CandidateSet(CONFIG.capabilities, CONFIG.identity, clock.mono)
        self.candidates.replace(list(pending))
        self.run_first = RunFirst(
            api,
            CONFIG,
            executor,
            self.keeper,
            clock,
            rng,
            self._freed,
            self.metrics,
            restore=self.candidates.restore,
        )
        self.pauses: list[float] = []
        self.claimer = Claimer(
            api,
            CONFIG,
            self.keeper,
            self.candidates,
            clock,
            rng,
            self._pause,
            run_first=self.run_first,
        )
        self.serving = asyncio.create_task(self.claimer.run())

    async def _pause(self, event: asyncio.Event, seconds: float) -> None:
        """The claimer's waits pass at once on the manual clock."""
        self.pauses.append(seconds)
        self.manual.advance(seconds)
        await asyncio.sleep(0)

    def _freed(self) -> None:
        self.freed += 1
        self.claimer.wake()

    async def close(self) -> None:
        self.claimer.stop()
        self.run_first.stop_all()
        await self.serving
        await self.run_first.works.settle()


def test_an_optimistic_task_runs_first_and_is_written_once() -> None:
    async def main() -> None:
        pending = optimistic()
        api = api_with(pending)
        s = Setup(api, Returns(), pending)
        await until(lambda: s.run_first.answers[Answer.ACCEPTED] == 1)
        [write] = api.sent("json_patch")  # no claim before the run: one write in all
        assert write.path == task_path("t") + "/status"
        status = api.objects[task_path("t")]["status"]
        assert (status["phase"], status["lease"]["holder"], status["lease"]["epoch"]) == (
            "Succeeded",
            "",
            2,
        )
        assert s.keeper.load == 0
        assert s.freed == 1
        registry = s.metrics.registry
        accepted = {"capability": "cap", "result": "accepted"}
        assert registry.get_sample_value("taskmill_provider_run_first_total", accepted) == 1
        succeeded = {"capability": "cap", "outcome": "succeeded"}
        assert registry.get_sample_value("taskmill_provider_tasks_total", succeeded) == 1
        await s.close()

    asyncio.run(main())


def test_a_task_nominated_to_another_provider_runs_here_only_after_the_grace() -> None:
    async def main() -> None:
        pending = nominated("t", "other")
        api = api_with(pending)
        s = Setup(api, Returns(), pending)
        await until(lambda: s.run_first.answers[Answer.ACCEPTED] == 1)
        assert s.pauses == [pytest.approx(TIMEOUT + NOMINATION_GRACE_SECONDS)]
        assert len(api.sent("json_patch")) == 1
        await s.close()

    asyncio.run(main())


def test_own_nominees_run_before_older_tasks_nominated_to_others() -> None:
    async def main() -> None:
        others = nominated("t", "other", index=0)
        mine = nominated("u", CONFIG.identity, index=1)
        api = api_with(others, mine)
        s = Setup(api, Returns(), others, mine)
        await until(lambda: s.run_first.answers[Answer.ACCEPTED] == 2)
        assert [r.path for r in api.sent("json_patch")] == [
            task_path("u") + "/status",
            task_path("t") + "/status",
        ]
        assert s.pauses == [pytest.approx(TIMEOUT + NOMINATION_GRACE_SECONDS)]
        await s.close()

    asyncio.run(main())


def test_a_run_holds_its_slot_until_its_write_is_answered() -> None:
    async def main() -> None:
        pending = [optimistic(f"t{i}", index=i) for i in range(3)]
        api = api_with(*pending)
        work = UntilCancelled()
        s = Setup(api, work, *pending)
        await until(lambda: len(s.run_first.runs) == CONFIG.concurrency)
        assert s.keeper.load == CONFIG.concurrency
        assert api.count("json_patch") == 0
        work.finish.set()
        await until(lambda: s.run_first.answers[Answer.ACCEPTED] == 3)
        assert api.count("json_patch") == 3
        await s.close()

    asyncio.run(main())


async def one_run_started() -> tuple[dict[str, Any], FakeKube, UntilCancelled, Setup]:
    """One Optimistic task, its run started and not yet ended."""
    pending = optimistic()
    api = api_with(pending)
    work = UntilCancelled()
    s = Setup(api, work, pending)
    await until(lambda: work.started.is_set())
    return pending, api, work, s


def test_a_run_that_loses_the_race_leaves_the_winners_result() -> None:
    async def main() -> None:
        _, api, work, s = await one_run_started()
        # Meanwhile another provider claimed the task (epoch 1).
        api.put(TASK_COLLECTION, optimistic(phase="Running", holder="other", epoch=1))
        work.finish.set()
        await until(lambda: s.run_first.answers[Answer.LOST] == 1)
        lease = api.objects[task_path("t")]["status"]["lease"]
        assert (lease["holder"], lease["epoch"]) == ("other", 1)
        assert s.keeper.load == 0
        await s.close()

    asyncio.run(main())


def test_a_run_whose_task_left_pending_stops_and_writes_nothing() -> None:
    async def main() -> None:
        pending, api, work, s = await one_run_started()
        # The pending watch: the task stopped matching status.phase=Pending.
        PendingTasks(s.candidates, s.run_first).apply("DELETED", pending)
        await until(lambda: s.run_first.answers[Answer.LOST] == 1)
        assert work.cancelled.is_set()
        assert api.count("json_patch") == 0
        await s.close()

    asyncio.run(main())


def test_a_run_stopped_at_shutdown_writes_nothing() -> None:
    async def main() -> None:
        _, api, _, s = await one_run_started()
        await s.close()
        assert s.run_first.answers[Answer.DROPPED] == 1
        assert api.count("json_patch") == 0

    asyncio.run(main())


def test_after_a_denied_write_optimistic_tasks_are_claimed_first() -> None:
    async def main() -> None:
        pending = [optimistic("t0"), optimistic("t1", index=1)]
        api = api_with(*pending)
        api.fail(lambda r: r.verb == "json_patch", ApiError(403, "Forbidden", "policy"))
        s = Setup(api, Returns(), *pending)
        await until(
            lambda: all(
                api.objects[task_path(name)]["status"]["phase"] == "Succeeded"
                for name in ("t0", "t1")
            )
        )
        # One run-first write denied; both tasks then claimed, run and reported.
        assert s.run_first.answers[Answer.DENIED] == 1
        assert s.run_first.answers[Answer.ACCEPTED] == 0
        assert api.count("json_patch") == 1 + 2 * 2
        await s.keeper.works.settle()
        await s.close()

    asyncio.run(main())


def test_a_lease_mode_task_is_claimed_first_as_before() -> None:
    async def main() -> None:
        pending = task_obj("t")
        api = api_with(pending)
        work = UntilCancelled()
        s = Setup(api, work, pending)
        await until(lambda: "t" in s.keeper.held)
        assert not s.run_first.runs
        s.keeper.stop_all(StopReason.SHUTDOWN)
        await s.keeper.works.settle()
        await s.close()

    asyncio.run(main())
