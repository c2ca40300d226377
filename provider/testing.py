"""Run a handler in a unit test, without a cluster.

    from taskmill.provider.testing import run_local

    def test_scores_items():
        run = run_local(score, {"items": ["a", "b"]})
        assert run.succeeded and run.json() == {...}

run_local goes through what a provider does with a leased task: params validation,
the handler (sync in its thread, async on the loop), result serialisation, the
errors and the handler's options; only the lease is missing. For a handler that
takes ctx, local_context builds one to call it directly instead.
"""

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskmill.provider.context import Context
from taskmill.provider.handlers import Handler, HandlerRunner, Registered, register
from taskmill.provider.options import HandlerOptions

from taskmill.api.common import ObjectMeta, TaskPhase
from taskmill.api.task import Task, TaskLease, TaskSpec, TaskStatus

CAPABILITY = "local.test"


@dataclass(frozen=True)
class LocalRun:
    """What the provider would write for this attempt."""

    succeeded: bool
    output: str  # result.output
    message: str  # result.message
    reason: str  # result.reason
    retry: bool  # a failure: whether the job's policy may still retry it
    retry_delay: float | None  # a failure: the delay asked for instead of the job's backoff
    progress: tuple[int | None, str] | None  # the last progress reported

    def json(self) -> Any:
        """result.output parsed as JSON."""
        return json.loads(self.output)


def local_task(
    params: dict[str, Any],
    *,
    capability: str = CAPABILITY,
    attempt: int = 1,
    epoch: int = 1,
    timeout_seconds: int | None = None,
    name: str = "local-0",
    job: str = "local",
) -> Task:
    """A Task as a provider holds it right after claiming it, started now."""
    return Task(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=TaskSpec(
            batch_job=job,
            index=0,
            capability=capability,
            params=params,
            timeout_seconds=timeout_seconds,
        ),
        status=TaskStatus(
            phase=TaskPhase.RUNNING,
            attempts=attempt - 1,
            start_time=datetime.now(UTC),
            lease=TaskLease(holder="local", epoch=epoch),
        ),
    )


def local_context(
    params: dict[str, Any], *, workdir: Path, kill_grace_seconds: float = 5.0, **task: Any
) -> Context:
    """A ctx for calling a handler function directly; `task` as for local_task."""
    return Context(
        local_task(params, **task), kill_grace_seconds=kill_grace_seconds, workdir=workdir
    )


async def run_local_async(
    handler: Handler | Registered,
    params: dict[str, Any],
    *,
    options: HandlerOptions | None = None,
    cancel_after: float | None = None,
    kill_grace_seconds: float = 5.0,
    **task: Any,
) -> LocalRun:
    """As run_local, inside a running event loop."""
    registered = handler if isinstance(handler, Registered) else register(handler, options)
    workdir = Path(tempfile.mkdtemp(prefix="taskmill-local-"))
    try:
        ctx = local_context(params, workdir=workdir, kill_grace_seconds=kill_grace_seconds, **task)
        if cancel_after is not None:
            asyncio.get_running_loop().call_later(cancel_after, ctx.cancelled.set)
        runner = HandlerRunner({ctx.capability: registered})
        outcome = await runner.execute(ctx.task, ctx)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    result = outcome.result
    return LocalRun(
        succeeded=outcome.succeeded,
        output=result.output,
        message=result.message,
        reason=result.reason,
        retry=outcome.retry,
        retry_delay=outcome.retry_delay,
        progress=ctx.take_progress(),
    )


def run_local(
    handler: Handler | Registered,
    params: dict[str, Any],
    *,
    options: HandlerOptions | None = None,
    cancel_after: float | None = None,
    kill_grace_seconds: float = 5.0,
    **task: Any,
) -> LocalRun:
    """Run `handler` on `params` once, as a provider would run a leased task.

    handler: the function (with `options`), or `provider.handlers[capability]` to use
    the options it was registered with. cancel_after: set ctx.cancelled after that
    many seconds, as a cancel or a shutdown would. task: attempt, epoch,
    timeout_seconds, name, job of the Task (see local_task).
    """
    return asyncio.run(
        run_local_async(
            handler,
            params,
            options=options,
            cancel_after=cancel_after,
            kill_grace_seconds=kill_grace_seconds,
            **task,
        )
    )
