"""Files around a task's work: inputs staged before it, outputs collected after it.

Wraps the provider's executor (command or SDK handlers alike). A task without
spec.files runs as before. With files: the inputs are staged into the task's fresh
working directory, the work runs, and only when it succeeded are its outputs
uploaded; the manifest (path, key, size, sha256 of every file) goes into the result.
A transfer that fails fails the attempt with a reason naming the file and the store;
a missing input fails the task at once, since another attempt would find it missing
too.
"""

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from taskmill.provider.command import PARAMS_FILE, RESULT_FILE
from taskmill.provider.context import Context
from taskmill.provider.keeper import Executor
from taskmill.provider.results import REASON_COMPLETED, Outcome

from taskmill.api.files import FileManifest, FileRecord, TaskFiles
from taskmill.api.task import Task, TaskResult
from taskmill.files.cache import ContentCache
from taskmill.files.client import Failure, ObjectClient
from taskmill.files.keys import ObjectRef, output_values, render_key
from taskmill.files.staging import StagingError, collect_outputs, guarded, stage_inputs
from taskmill.files.stores import StoreConfigError, Stores

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 2 * 1024**3
REASON_STOPPED = "Stopped"
# Where a result over the inline limit is stored.
RESULT_KEY = "{namespace}/{job}/{index}/{attempt}/result"
# The command runner's own files in the working directory: never outputs.
RUNNER_FILES = frozenset({PARAMS_FILE, RESULT_FILE})

T = TypeVar("T")


class _StoppedError(Exception):
    """The work was told to stop while its files were moving."""


class Staging:
    """An Executor that moves a task's files around the inner executor's work."""

    def __init__(
        self,
        inner: Executor,
        stores: Stores | None,
        cache_dir: Path | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._inner = inner
        self._stores = stores
        self._cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="taskmill-files-"))
        self.cache = ContentCache(self._cache_dir, cache_bytes)
        self._clients: dict[str, ObjectClient] = {}

    def close(self) -> None:
        shutil.rmtree(self._cache_dir, ignore_errors=True)

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        files = task.spec.files
        try:
            if files is None:
                outcome = await self._inner.execute(task, ctx)
            else:
                outcome = await self._with_files(task, files, ctx)
            if outcome.oversized is not None and self._stores is not None:
                store = "" if files is None else files.store
                outcome = await _unless_stopped(self._offload(task, ctx, outcome, store), ctx)
        except StagingError as e:
            log.warning("task %s: %s (%s)", ctx.name, e, e.reason)
            return _failed(e.reason, str(e), final=e.final)
        except _StoppedError:
            return _failed(REASON_STOPPED, "stopped while moving files")
        return outcome

    async def _with_files(self, task: Task, files: TaskFiles, ctx: Context) -> Outcome:
        client = self._client(files.store)
        inputs = await _unless_stopped(stage_inputs(files, client, self.cache, ctx.workdir), ctx)
        log.info("task %s: staged %d input file(s)", ctx.name, len(inputs))
        outcome = await self._inner.execute(task, ctx)
        if not outcome.succeeded or ctx.cancelled.is_set():
            return outcome
        ctx.end_work()
        collecting = collect_outputs(
            files, client, ctx.workdir, _key_values(task, ctx), RUNNER_FILES
        )
        outputs = await _unless_stopped(collecting, ctx)
        log.info("task %s: collected %d output file(s)", ctx.name, len(outputs))
        manifest = FileManifest(store=client.name, inputs=inputs, outputs=outputs)
        return replace(outcome, result=outcome.result.model_copy(update={"files": manifest}))

    async def _offload(self, task: Task, ctx: Context, outcome: Outcome, store: str) -> Outcome:
        """Store a result over the inline limit as an object; the result references it."""
        assert outcome.oversized is not None
        client = self._client(store)
        key = render_key(RESULT_KEY, _key_values(task, ctx))
        data = outcome.oversized.output.encode()
        digest = await guarded(client.upload_bytes(data, ObjectRef(None, key)))
        log.info("task %s: result of %d bytes stored as %s", ctx.name, digest.size, key)
        record = FileRecord(path="", key=key, size=digest.size, sha256=digest.sha256)
        result = outcome.result.model_copy(
            update={
                "output": "",
                "message": outcome.oversized.message[:1024]
                or f"result stored as an object: {key} in store {client.name!r}",
                "reason": outcome.oversized.reason or REASON_COMPLETED,
                "output_object": record,
            }
        )
        return Outcome(True, result)

    def _client(self, store: str) -> ObjectClient:
        if self._stores is None:
            raise StagingError(
                Failure.CONFIG.value,
                f"the task uses object store {store or '(default)'!r}, but this provider has "
                "no stores file (--stores)",
            )
        try:
            config = self._stores.get(store)
        except StoreConfigError as e:
            raise StagingError(Failure.CONFIG.value, str(e)) from None
        if config.name not in self._clients:
            self._clients[config.name] = ObjectClient(config)
        return self._clients[config.name]


async def _unless_stopped(work: Awaitable[T], ctx: Context) -> T:
    """`work`, abandoned (cancelled) as soon as ctx.cancelled is set."""
    running = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(ctx.cancelled.wait_async())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not running.done():
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        raise _StoppedError
    return running.result()


def _key_values(task: Task, ctx: Context) -> dict[str, str]:
    return output_values(
        task.metadata.namespace,
        task.spec.batch_job,
        task.metadata.name,
        task.spec.index,
        ctx.attempt,
        "",
    )


def _failed(reason: str, message: str, *, final: bool = False) -> Outcome:
    # A final failure (an input missing from the store) is not retried: no attempt can mend it.
    return Outcome(False, TaskResult(reason=reason, message=message[:1024]), retry=not final)
