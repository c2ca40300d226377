"""Run one command per task, in its own process group, and turn its exit into an Outcome."""

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from taskmill.provider.context import Context
from taskmill.provider.results import (
    MAX_RESULT_FILE,
    Outcome,
    command_outcome,
    start_failed_outcome,
    tail_bytes,
)

from taskmill.api.protocol import timestamp
from taskmill.api.task import Task

log = logging.getLogger(__name__)

# After the command exits, how long to keep reading output that its leftover
# children may still hold open before giving up on them.
_DRAIN_SECONDS = 2.0


# Linux refuses any single environment string over 128 KiB (MAX_ARG_STRLEN) and all of
# them together past a quarter of the stack limit; params of any admitted size (up to
# the API server's 1.5 MiB) go through stdin and a file, and into the environment only
# when they are small enough never to hit either limit.
PARAMS_ENV_LIMIT = 32 * 1024
PARAMS_FILE = "params.json"
# A stderr line longer than this is logged in parts.
MAX_STDERR_LINE = 16 * 1024
RESULT_FILE = "result.json"


def command_env(
    task: Task, ctx: Context, params: str, base: Mapping[bytes, bytes]
) -> dict[bytes, bytes]:
    """The provider's environment `base`, encoded, with the task's own variables."""
    workdir = ctx.workdir
    env = {
        "TASKMILL_TASK": task.metadata.name,
        "TASKMILL_PARAMS_FILE": str(workdir / PARAMS_FILE),
        "TASKMILL_RESULT": str(workdir / RESULT_FILE),
        "TASKMILL_WORKDIR": str(workdir),
        "TASKMILL_CAPABILITY": task.spec.capability,
        "TASKMILL_NAMESPACE": task.metadata.namespace,
        "TASKMILL_EPOCH": str(ctx.epoch),
        "TASKMILL_ATTEMPT": str(ctx.attempt),
    }
    if ctx.deadline is not None:
        env["TASKMILL_DEADLINE"] = timestamp(ctx.deadline)
    if len(params.encode()) <= PARAMS_ENV_LIMIT:
        env["TASKMILL_PARAMS"] = params
    return {**base, **{os.fsencode(k): os.fsencode(v) for k, v in env.items()}}


class CommandRunner:
    """The command provider's executor: CMD [ARG...] once per task."""

    def __init__(self, argv: Sequence[str]) -> None:
        if not argv:
            raise ValueError("a command is required")
        self._argv = list(argv)
        # Encoded once: decoding os.environ and encoding it again for every task was 4% of
        # a provider's CPU with no-op commands (bench --profile, 2026-12-02).
        self._base_env = dict(os.environb)

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        """Run the command, with ctx.workdir (the task's own directory, removed after) as
        its scratch space. A task with spec.files runs in it, where its inputs were staged
        and its outputs are collected; otherwise its current directory stays the
        provider's, so that relative paths in params keep their meaning."""
        params = json.dumps(task.spec.params)
        params_file = ctx.workdir / PARAMS_FILE
        params_file.write_text(params)
        output, errors = await _Pipe.open(), await _Pipe.open()
        stderr = _StderrLines(ctx)
        # stdin is the params file itself, not a pipe fed from here: a command that never
        # reads it blocks nothing, and a task costs no pipe, write transport or feeder
        # coroutine (about 1% of a provider's CPU with no-op commands, bench --profile).
        # start_new_session: the command leads its own process group, so
        # termination reaches everything it started.
        try:
            with params_file.open("rb") as stdin:
                proc = await asyncio.create_subprocess_exec(
                    *self._argv,
                    stdin=stdin,
                    stdout=output.write_fd,
                    stderr=errors.write_fd,
                    env=command_env(task, ctx, params, self._base_env),
                    cwd=ctx.workdir if task.spec.files is not None else None,
                    start_new_session=True,
                )
        except OSError as e:
            output.close()
            errors.close()
            return start_failed_outcome(e)
        finally:
            os.close(output.write_fd)  # the command has its copies
            os.close(errors.write_fd)
        log.info("task %s: started %s (pid %d)", task.metadata.name, self._argv[0], proc.pid)
        readers = asyncio.gather(output.read(output.keep_tail), errors.read(stderr.feed))
        try:
            exit_code = await self._wait_or_terminate(proc, ctx)
            # Leftovers the command did not reap are killed below; one that left the
            # process group may hold its output open: read on a little, then keep what came.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(readers), _DRAIN_SECONDS)
        finally:
            readers.cancel()
            # All of the group, also when this coroutine is cancelled instead of stopped
            # through ctx, so no process outlives its task.
            _signal_group(proc.pid, signal.SIGKILL)
            await asyncio.gather(readers, proc.wait(), return_exceptions=True)
            output.close()
            errors.close()
            stderr.flush()
        return command_outcome(exit_code, output.tail, _read(ctx.workdir / RESULT_FILE))

    async def _wait_or_terminate(self, proc: asyncio.subprocess.Process, ctx: Context) -> int:
        """Wait for exit; once ctx.cancelled is set: SIGTERM the group, SIGKILL after grace."""
        exited = asyncio.ensure_future(proc.wait())
        cancelled = asyncio.ensure_future(ctx.cancelled.wait_async())
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


class _Pipe:
    """One of the command's outputs, on a pipe whose read end this runner owns.

    A grandchild that leaves the process group and keeps the write end open must not
    cost the output: what was read so far is kept, and the read end is closed when the
    runner stops reading, whether or not EOF came.
    """

    def __init__(
        self, write_fd: int, reader: asyncio.StreamReader, transport: asyncio.ReadTransport
    ) -> None:
        self.write_fd = write_fd
        self.tail = b""
        self._reader = reader
        self._transport = transport

    @classmethod
    async def open(cls) -> "_Pipe":
        read_fd, write_fd = os.pipe()
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        return cls(write_fd, reader, transport)

    async def read(self, consume: Callable[[bytes], None]) -> None:
        while chunk := await self._reader.read(65536):
            consume(chunk)

    def keep_tail(self, chunk: bytes) -> None:
        self.tail = tail_bytes(self.tail, chunk)

    def close(self) -> None:
        self._transport.close()


class _StderrLines:
    """The command's stderr, line by line into the provider's log, each line prefixed
    with the task (ctx.log), so the output of concurrent tasks can be told apart."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        if len(self._partial) > MAX_STDERR_LINE:  # a line without end is logged in parts
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, line: bytes) -> None:
        self._ctx.log.info("%s", line.decode(errors="replace").rstrip("\r"))


def _read(path: Path) -> str:
    """The result file's contents ("" when the command wrote none), up to just past the
    most a valid one can hold."""
    try:
        with path.open("rb") as f:
            return f.read(MAX_RESULT_FILE + 1).decode(errors="replace")
    except FileNotFoundError:
        return ""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
