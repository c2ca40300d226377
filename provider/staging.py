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
from taskmill.provider.results import Outcome

from taskmill.api.files import FileManifest
from taskmill.api.task import Task, TaskResult
from taskmill.files.cache import ContentCache
from taskmill.files.client import Failure, ObjectClient
from taskmill.files.keys import output_values
from taskmill.files.staging import StagingError, collect_outputs, stage_inputs
from taskmill.files.stores import StoreConfigError, Stores

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 2 * 1024**3
REASON_STOPPED = "Stopped"
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
        if files is None:
            return await self._inner.execute(task, ctx)
        try:
            client = self._client(files.store)
            inputs = await _unless_stopped(
                stage_inputs(files, client, self.cache, ctx.workdir), ctx
            )
            log.info("task %s: staged %d input file(s)", ctx.name, len(inputs))
            outcome = await self._inner.execute(task, ctx)
            if not outcome.succeeded or ctx.cancelled.is_set():
                return outcome
            values = output_values(
                task.metadata.namespace,
                task.spec.batch_job,
                task.metadata.name,
                task.spec.index,
                ctx.attempt,
                "",
            )
            outputs = await _unless_stopped(
                collect_outputs(files, client, ctx.workdir, values, RUNNER_FILES), ctx
            )
        except StagingError as e:
            log.warning("task %s: %s (%s)", ctx.name, e, e.reason)
            return _failed(e.reason, str(e), final=e.final)
        except _StoppedError:
            return _failed(REASON_STOPPED, "stopped while moving files")
        log.info("task %s: collected %d output file(s)", ctx.name, len(outputs))
        manifest = FileManifest(store=client.name, inputs=inputs, outputs=outputs)
        return replace(outcome, result=outcome.result.model_copy(update={"files": manifest}))

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
    stopped = asyncio.ensure_future(ctx.cancelled.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not running.done():
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        raise _StoppedError
    return running.result()


def _failed(reason: str, message: str, *, final: bool = False) -> Outcome:
    return Outcome(False, TaskResult(reason=reason, message=message[:1024]), final=final)
