"""ctx: the stop signal from threads and coroutines, check/sleep, the per-task logger."""

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from taskmill.provider.cancellation import Cancellation
from taskmill.provider.context import Context
from taskmill.provider.errors import TaskStopped
from taskmill.provider.testing import local_context, run_local

from tests.harness.polling import wait_for


def ctx() -> Context:
    return local_context({"n": 1}, workdir=Path("/nonexistent"), name="t-7", job="scores")


def test_a_thread_waits_for_the_stop_without_polling() -> None:
    cancel = Cancellation()
    assert cancel.wait(0.01) is False
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(cancel.wait(30)))
    waiter.start()
    cancel.set()
    waiter.join(5)
    assert woke == [True]


def test_a_coroutine_waits_for_a_stop_set_from_another_thread() -> None:
    async def main() -> tuple[bool, bool]:
        cancel = Cancellation()
        timed_out = await cancel.wait_async(0.01)
        threading.Timer(0.05, cancel.set).start()
        return timed_out, await cancel.wait_async(30)

    assert asyncio.run(main()) == (False, True)


def test_waits_on_several_loops_all_wake() -> None:
    cancel = Cancellation()
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(asyncio.run(cancel.wait_async(30))))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(cancel._waiters) == 3, timeout=5, what="3 waiters", interval=0.01)
    cancel.set()
    for thread in threads:
        thread.join(5)
    assert results == [True, True, True]
    assert asyncio.run(cancel.wait_async(0)) is True  # already set


def test_a_blocking_wait_on_the_event_loop_is_refused() -> None:
    async def main() -> None:
        Cancellation().wait(1)

    with pytest.raises(RuntimeError, match=r"await ctx\.cancelled\.wait_async"):
        asyncio.run(main())


def test_check_and_sleep_raise_once_the_work_must_stop() -> None:
    c = ctx()
    c.check()
    c.sleep(0.01)
    c.cancelled.set()
    with pytest.raises(TaskStopped):
        c.check()
    started = time.monotonic()
    with pytest.raises(TaskStopped):
        c.sleep(30)
    with pytest.raises(TaskStopped):
        asyncio.run(c.sleep_async(30))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("style", ["sync", "async"])
def test_sleep_wakes_on_cancel(style: str) -> None:
    def sync_handler(params: dict[str, Any], c: Context) -> Any:
        c.sleep(30)
        return "slept through"

    async def async_handler(params: dict[str, Any], c: Context) -> Any:
        await c.sleep_async(30)
        return "slept through"

    handler = sync_handler if style == "sync" else async_handler
    started = time.monotonic()
    run = run_local(handler, {}, cancel_after=0.1)
    assert time.monotonic() - started < 5
    assert (run.succeeded, run.message) == (False, "TaskStopped: task local-0 must stop")


def test_attempt_epoch_deadline_and_job() -> None:
    c = local_context({}, workdir=Path("/x"), attempt=3, epoch=9, timeout_seconds=60, job="j")
    assert (c.attempt, c.epoch, c.job) == (3, 9, "j")
    assert c.deadline is not None
    assert c.task.status.start_time is not None
    assert (c.deadline - c.task.status.start_time).total_seconds() == 60


def test_progress_keeps_only_the_latest_for_the_next_renewal() -> None:
    c = ctx()
    for percent in range(101):
        c.progress(percent, f"{percent}%")
    assert c.take_progress() == (100, "100%")
    assert c.take_progress() is None


def test_the_task_logger_names_the_task_and_job(caplog: pytest.LogCaptureFixture) -> None:
    c = ctx()
    with caplog.at_level(logging.INFO, logger="taskmill.task"):
        c.log.info("scored %d items", 3)
    [record] = caplog.records
    assert record.name == "taskmill.task.local.test"
    assert record.getMessage() == "task t-7: scored 3 items"
    assert (getattr(record, "task", None), getattr(record, "job", None)) == ("t-7", "scores")
