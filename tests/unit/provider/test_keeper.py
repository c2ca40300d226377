"""The keeper: what the held-task watch says about a lease, and each lease's last write."""

import asyncio
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from taskmill.provider.context import Context
from taskmill.provider.held import Phase, StopReason
from taskmill.provider.keeper import Claimed, Executor, Keeper
from taskmill.provider.lease_clock import LeaseTiming
from taskmill.provider.results import Outcome

from taskmill.api.task import Task
from taskmill.kube import ApiError
from tests.fakes.clock import ManualClock
from tests.unit.provider.executors import Returns, UntilCancelled
from tests.unit.provider.kit import (
    CONFIG,
    api_with,
    clock_of,
    is_final,
    running,
    task_path,
    until,
    writes_to,
)
from tests.unit.provider.tasks import task_obj

TIMING = LeaseTiming.of(5, 1)
RELEASE_PATHS = ",".join(
    f"/status/{field}" for field in ("history", "lease", "normalizedStatus", "phase", "reason")
)


class Setup:
    def __init__(self, executor: Executor, *objs: dict[str, Any]) -> None:
        self.api = api_with(*(objs or (running(),)))
        self.clock = ManualClock()
        self.freed = 0
        self.keeper = Keeper(
            self.api, CONFIG, executor, clock_of(self.clock), random.Random(0), self._freed
        )

    def _freed(self) -> None:
        self.freed += 1

    def start(self, obj: dict[str, Any] | None = None) -> None:
        """A claim of `obj` (the running task by default) that won."""
        task = Task.model_validate(obj or running())
        self.keeper.claiming(task.metadata.name)
        self.keeper.claimed(task.metadata.name, Claimed(task, TIMING, self.clock.now))


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_finished_work_is_reported_once_and_frees_its_slot() -> None:
    async def main() -> None:
        s = Setup(Returns())
        s.start()
        await s.keeper.works.settle()
        (final,) = s.api.sent("json_patch")
        assert is_final(final)
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Succeeded"
        # Woken when the write started (the slot is free) and when it ended.
        assert (s.keeper.load, s.freed) == (0, 2)

    run(main)


def test_a_slot_is_free_while_its_final_write_is_in_flight() -> None:
    """The next claim overlaps the result's write; the provider is not idle until the
    write is answered, so a drain waits for it."""

    async def main() -> None:
        s = Setup(Returns())
        answer = s.api.hold(is_final)
        s.start()
        await until(lambda: bool(s.api.sent("json_patch")))
        assert (s.keeper.load, s.freed, s.keeper.idle) == (0, 1, False)
        assert s.keeper.busy_by_capability() == {}
        answer.set()
        await s.keeper.works.settle()
        assert (s.keeper.load, s.keeper.idle) == (0, True)
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Succeeded"

    run(main)


def test_final_writes_in_flight_beyond_one_per_slot_take_slots() -> None:
    """A stalled API server that still takes claims cannot pile up unreported work."""

    async def main() -> None:
        s = Setup(Returns(), running("a"), running("b"))  # CONFIG has one slot
        answer = s.api.hold(is_final)
        s.start(running("a"))
        s.start(running("b"))
        await until(lambda: len(s.api.sent("json_patch")) == 2)
        assert s.keeper.load == 1
        answer.set()
        await s.keeper.works.settle()
        assert s.keeper.load == 0

    run(main)


def test_an_executor_that_raises_fails_its_attempt() -> None:
    async def main() -> None:
        s = Setup(Returns(error=RuntimeError("boom")))
        s.start()
        await s.keeper.works.settle()
        status = s.api.objects[task_path("t")]["status"]
        assert (status["attempts"], status["result"]["reason"]) == (1, "HandlerError")

    run(main)


@pytest.mark.parametrize(
    ("event", "change", "reason"),
    [
        ("DELETED", {}, StopReason.GONE),
        ("MODIFIED", {"epoch": 2, "holder": ""}, StopReason.LEASE_LOST),
        ("MODIFIED", {"cancel": True}, StopReason.CANCELLED),
    ],
)
def test_watch_events_stop_the_work(event: str, change: dict[str, Any], reason: StopReason) -> None:
    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.start()
        await executor.started.wait()
        cancel = change.pop("cancel", False)
        lease = {"epoch": 1, "holder": "me", **change}
        changed = task_obj("t", phase="Running", cancel=cancel, resource_version="2", **lease)
        s.keeper.apply(event, changed)
        assert s.keeper.held["t"].stop_reason is reason
        await s.keeper.works.settle()
        assert executor.cancelled.is_set()
        written = writes_to(s.api, task_path("t"))
        assert written == ([RELEASE_PATHS] if reason.may_write else [])

    run(main)


def test_an_event_from_before_the_lease_changes_nothing() -> None:
    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.start(running(epoch=3))
        s.keeper.apply("DELETED", task_obj("t", phase="Running", holder="me", epoch=2))
        assert s.keeper.held["t"].stop_reason is None
        executor.finish.set()
        await s.keeper.works.settle()

    run(main)


def test_the_echo_of_a_known_version_is_not_parsed_again() -> None:
    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.start()
        await executor.started.wait()
        held = s.keeper.held["t"]
        echo = task_obj("t", phase="Running", holder="me", epoch=1)
        assert echo["metadata"]["resourceVersion"] == held.task.metadata.resource_version
        with pytest.MonkeyPatch.context() as m:
            m.setattr(Task, "model_validate", _never)
            s.keeper.apply("MODIFIED", echo)
        assert held.stop_reason is None
        executor.finish.set()
        await s.keeper.works.settle()

    run(main)


def test_the_echo_of_the_final_write_is_not_news(caplog: pytest.LogCaptureFixture) -> None:
    """Once the final write is under way, its echo (the task leaves the holder selector:
    DELETED, epoch + 1) reaches the keeper before the write's answer may: no warning."""

    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.start()
        await executor.started.wait()
        held = s.keeper.held["t"]
        held.phase = Phase.FINISHING  # as _finish sets it
        s.keeper.apply("DELETED", task_obj("t", phase="Succeeded", epoch=2, resource_version="3"))
        assert held.stop_reason is None
        held.phase = Phase.RUNNING
        executor.finish.set()
        await s.keeper.works.settle()

    run(main)
    assert "abandoning" not in caplog.text


def _never(obj: Any) -> Task:
    raise AssertionError("parsed")


def test_events_during_a_claim_wait_for_its_answer() -> None:
    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.keeper.claiming("t")
        cancelled = task_obj(
            "t", phase="Running", holder="me", epoch=1, cancel=True, resource_version="2"
        )
        s.keeper.apply("MODIFIED", cancelled)
        assert s.api.sent("json_patch") == []  # not taken for an orphan
        task = Task.model_validate(running())
        s.keeper.claimed("t", Claimed(task, TIMING, s.clock.now))
        assert s.keeper.held["t"].stop_reason is StopReason.CANCELLED
        await s.keeper.works.settle()

    run(main)


def test_an_orphan_under_this_identity_is_released_once() -> None:
    async def main() -> None:
        s = Setup(Returns(), running(epoch=4))
        orphan = running(epoch=4)
        s.keeper.replace([orphan])
        s.keeper.apply("MODIFIED", orphan)
        await s.keeper.chores.settle()
        assert writes_to(s.api, task_path("t")) == [RELEASE_PATHS]
        status = s.api.objects[task_path("t")]["status"]
        assert status["phase"] == "Pending"
        assert status["history"][-1]["reason"] == "ProviderRestarted"

    run(main)


def test_the_final_write_is_retried_through_transient_errors() -> None:
    async def main() -> None:
        s = Setup(Returns())
        s.api.fail(is_final, ApiError(500, "InternalError", "etcd timeout"))
        s.start()
        await s.keeper.works.settle()
        assert [is_final(r) for r in s.api.sent("json_patch")] == [True, True]
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Succeeded"

    run(main)


def test_a_rejected_final_write_drops_the_result() -> None:
    async def main() -> None:
        s = Setup(Returns(), running(epoch=2))  # someone else's lease by now
        s.start()
        await s.keeper.works.settle()
        assert len(s.api.sent("json_patch")) == 1
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Running"

    run(main)


class Scribbles:
    """Leaves files in its working directory, and says where that was."""

    def __init__(self) -> None:
        self.workdir: Path | None = None

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        self.workdir = ctx.workdir
        (ctx.workdir / "deep").mkdir()
        (ctx.workdir / "deep" / "file").write_text("x")
        raise SystemExit(2)


def test_each_task_gets_a_working_directory_removed_after() -> None:
    async def main() -> None:
        executor = Scribbles()
        s = Setup(executor)
        s.start()
        await s.keeper.works.settle()
        assert executor.workdir is not None
        assert not executor.workdir.exists()
        status = s.api.objects[task_path("t")]["status"]
        assert status["result"]["message"] == "SystemExit: 2"  # its own task fails, no more

    run(main)


def test_work_that_finished_is_reported_after_an_outage_past_the_deadline() -> None:
    async def main() -> None:
        s = Setup(Returns())
        for _ in range(2):  # the API server is unreachable for a while
            s.api.fail(is_final, TimeoutError())
        s.start()
        s.clock.advance(60)  # far past the holder's own deadline (3 s)
        await s.keeper.works.settle()
        assert [is_final(r) for r in s.api.sent("json_patch")] == [True, True, True]
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Succeeded"

    run(main)


def test_work_stopped_at_the_deadline_is_handed_back_without_an_attempt() -> None:
    async def main() -> None:
        executor = UntilCancelled()
        s = Setup(executor)
        s.start()
        await executor.started.wait()
        s.keeper.held["t"].stop(StopReason.DEADLINE_MISSED)
        await s.keeper.works.settle()
        status = s.api.objects[task_path("t")]["status"]
        assert (status["phase"], status["lease"]["holder"]) == ("Pending", "")
        assert "attempts" not in status
        assert status["history"][-1]["reason"] == "LeaseDeadlineMissed"

    run(main)


def test_at_exit_a_final_write_that_keeps_failing_is_given_up() -> None:
    async def main() -> None:
        s = Setup(Returns())
        for _ in range(100):
            s.api.fail(is_final, ApiError(503, "ServiceUnavailable", "down"))
        s.start()
        await until(lambda: len(s.api.sent("json_patch")) >= 1)
        s.keeper.abandon_writes()
        await asyncio.wait_for(s.keeper.works.settle(), 10)
        assert s.api.objects[task_path("t")]["status"]["phase"] == "Running"

    run(main)
