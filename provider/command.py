"""Run one command per task, in its own process group, and turn its exit into an Outcome."""

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path

from taskmill.provider.context import Context
from taskmill.provider.results import (
    Outcome,
    command_outcome,
    start_failed_outcome,
    tail_bytes,
)

from taskmill.api.task import Task

log = logging.getLogger(__name__)

# After the command exits, how long to keep reading output that its leftover
# children may still hold open before giving up on them.
_DRAIN_SECONDS = 2.0


def command_env(task: Task, result_path: Path, base: dict[str, str]) -> dict[str, str]:
    return {
        **base,
        "TASKMILL_TASK": task.metadata.name,
        "TASKMILL_PARAMS": json.dumps(task.spec.params),
        "TASKMILL_RESULT": str(result_path),
        "TASKMILL_CAPABILITY": task.spec.capability,
        "TASKMILL_NAMESPACE": task.metadata.namespace,
    }


class CommandRunner:
    """The command provider's executor: CMD [ARG...] once per task."""

    def __init__(self, argv: Sequence[str]) -> None:
        if not argv:
            raise ValueError("a command is required")
        self._argv = list(argv)
        # One directory for all result files: a directory per task costs a mkdir and an
        # rmdir on the event loop for every task.
        self._results = Path(tempfile.mkdtemp(prefix="taskmill-results-"))
        weakref.finalize(self, shutil.rmtree, self._results, ignore_errors=True)

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        # Not created in advance: most commands write no result file.
        result_path = self._results / f"{task.metadata.name}-{task.status.lease.epoch}.json"
        # start_new_session: the command leads its own process group, so
        # termination reaches everything it started.
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=command_env(task, result_path, dict(os.environ)),
                start_new_session=True,
            )
        except OSError as e:
            return start_failed_outcome(e)
        log.info("task %s: started %s (pid %d)", task.metadata.name, self._argv[0], proc.pid)
        reader = asyncio.create_task(_read_tail(proc))
        try:
            await _feed_stdin(proc, json.dumps(task.spec.params).encode())
            exit_code = await self._wait_or_terminate(proc, ctx)
        finally:
            # Leftovers the command did not reap; all of it when this coroutine is
            # cancelled instead of stopped through ctx, so no process outlives its task.
            _signal_group(proc.pid, signal.SIGKILL)
        try:
            tail = await asyncio.wait_for(reader, _DRAIN_SECONDS)
        except TimeoutError:
            tail = b""
        return command_outcome(exit_code, tail, _take(result_path))

    async def _wait_or_terminate(self, proc: asyncio.subprocess.Process, ctx: Context) -> int:
        """Wait for exit; once ctx.cancelled is set: SIGTERM the group, SIGKILL after grace."""
        exited = asyncio.ensure_future(proc.wait())
        cancelled = asyncio.ensure_future(ctx.cancelled.wait())
        await asyncio.wait({exited, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        cancelled.cancel()
        if not exited.done():
            log.info("task %s: terminating process group %d", ctx.name, proc.pid)
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(exited), ctx.kill_grace_seconds)
            except TimeoutError:
                log.info("task %s: killing process group %d", ctx.name, proc.pid)
                _signal_group(proc.pid, signal.SIGKILL)
        return await exited


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    # A command that never reads its stdin is fine.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    proc.stdin.close()


async def _read_tail(proc: asyncio.subprocess.Process) -> bytes:
    assert proc.stdout is not None
    tail = b""
    while chunk := await proc.stdout.read(65536):
        tail = tail_bytes(tail, chunk)
    return tail


def _take(path: Path) -> str:
    """The result file's contents ("" when the command wrote none), removing the file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    path.unlink()
    return text


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
