"""HandlerRunner: sync and async handlers, errors, cooperative cancellation, abandonment."""

import _thread
import asyncio
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from taskmill.provider.context import Context
from taskmill.provider.handlers import Handler, HandlerRunner, register
from taskmill.provider.results import Outcome

from taskmill.api.task import Task
from tests.unit.provider.tasks import task_obj

TASK = Task.model_validate(task_obj("t-1", index=1))


def run(handler: Handler, cancel_after: float | None = None) -> tuple[Outcome, Context]:
    async def main() -> tuple[Outcome, Context]:
        runner = HandlerRunner({"cap": register(handler)})
        ctx = Context(TASK, kill_grace_seconds=0.5, workdir=Path("/nonexistent"))
        if cancel_after is not None:
            asyncio.get_running_loop().call_later(cancel_after, ctx.cancelled.set)
        return await runner.execute(TASK, ctx), ctx

    return asyncio.run(main())


def test_async_handler_gets_params_and_reports_progress() -> None:
    async def handler(params: dict[str, Any], ctx: Context) -> Any:
        ctx.progress(40, "resizing")
        return {"doubled": params["n"] * 2}

    outcome, ctx = run(handler)
    assert (outcome.succeeded, outcome.result.output) == (True, '{"doubled": 2}')
    assert ctx.take_progress() == (40, "resizing")
    assert ctx.take_progress() is None


def test_sync_handler_runs_in_a_thread() -> None:
    def handler(params: dict[str, Any], ctx: Context) -> Any:
        return threading.current_thread().name

    outcome, _ = run(handler)
    assert outcome.result.output == "task-t-1"


def test_handler_exception_fails_the_attempt() -> None:
    def handler(params: dict[str, Any], ctx: Context) -> Any:
        raise KeyError("missing")

    outcome, _ = run(handler)
    assert (outcome.succeeded, outcome.reason) == (False, "HandlerError")
    assert "KeyError" in outcome.result.output


def test_cooperative_cancellation() -> None:
    def handler(params: dict[str, Any], ctx: Context) -> Any:
        while not ctx.cancelled.is_set():
            time.sleep(0.01)
        return "stopped"

    outcome, _ = run(handler, cancel_after=0.1)
    assert outcome.result.output == "stopped"


def test_handler_ignoring_cancellation_is_abandoned() -> None:
    async def handler(params: dict[str, Any], ctx: Context) -> Any:
        await asyncio.sleep(60)

    started = time.monotonic()
    outcome, _ = run(handler, cancel_after=0.1)
    assert time.monotonic() - started < 5
    assert not outcome.succeeded


def test_sync_handler_ignoring_cancellation_is_abandoned() -> None:
    release = threading.Event()

    def handler(params: dict[str, Any], ctx: Context) -> Any:
        release.wait(30)

    started = time.monotonic()
    outcome, _ = run(handler, cancel_after=0.1)
    release.set()
    assert time.monotonic() - started < 5
    assert not outcome.succeeded


class Fatal(BaseException):
    pass


def exits(params: dict[str, Any], ctx: Context) -> Any:
    sys.exit(3)


async def exits_async(params: dict[str, Any], ctx: Context) -> Any:
    sys.exit(4)


def interrupted(params: dict[str, Any], ctx: Context) -> Any:
    raise KeyboardInterrupt


async def fatal_async(params: dict[str, Any], ctx: Context) -> Any:
    raise Fatal("deep")


async def cancels_itself(params: dict[str, Any], ctx: Context) -> Any:
    raise asyncio.CancelledError


def ends_its_thread(params: dict[str, Any], ctx: Context) -> Any:
    _thread.exit()


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (exits, "SystemExit: 3"),
        (exits_async, "SystemExit: 4"),
        (interrupted, "KeyboardInterrupt: "),
        (fatal_async, "Fatal: deep"),
        (cancels_itself, "CancelledError: "),
        (ends_its_thread, "SystemExit: "),
    ],
)
def test_a_handler_that_exits_or_raises_base_exceptions_fails_only_its_task(
    handler: Handler, message: str
) -> None:
    outcome, _ = run(handler)  # returning at all means the event loop survived
    assert (outcome.succeeded, outcome.reason, outcome.result.message) == (
        False,
        "HandlerError",
        message,
    )


def test_an_exception_that_cannot_be_printed_still_fails_only_its_task() -> None:
    class UnprintableError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def handler(params: dict[str, Any], ctx: Context) -> Any:
        raise UnprintableError

    outcome, _ = run(handler)
    assert (outcome.succeeded, outcome.result.message) == (False, "UnprintableError: <unprintable>")


def test_the_context_carries_epoch_attempt_and_deadline() -> None:
    obj = task_obj("t", phase="Running", holder="me", epoch=7)
    obj["status"].update(attempts=1, startTime="2026-01-01T00:00:00Z")
    obj["spec"]["timeoutSeconds"] = 30
    ctx = Context(Task.model_validate(obj), kill_grace_seconds=1, workdir=Path("/nonexistent"))
    assert (ctx.epoch, ctx.attempt) == (7, 2)
    assert ctx.deadline == datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert Context(TASK, kill_grace_seconds=1, workdir=Path("/x")).deadline is None
