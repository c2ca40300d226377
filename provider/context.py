"""The handle a piece of work gets: its task, progress reporting, cancellation."""

import logging
from collections.abc import Callable, MutableMapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from taskmill.provider.cancellation import Cancellation
from taskmill.provider.errors import TaskStopped

from taskmill.api.task import Task


class Context:
    """Passed to SDK handlers as `ctx` (and used by the command runner).

    `cancelled` is set when the work must stop: the task was cancelled, timed out or
    deleted, the lease was lost, or the provider is shutting down. Sync handlers (run
    in a thread) wait on it with `ctx.cancelled.wait(t)`, async ones with `await
    ctx.cancelled.wait_async(t)`; `ctx.check()` and `ctx.sleep()` raise TaskStopped
    once it is set. Work that ignores it is abandoned after the kill grace period and
    its result is never written.
    """

    def __init__(
        self,
        task: Task,
        *,
        kill_grace_seconds: float,
        workdir: Path,
        on_work_ended: Callable[[], None] = lambda: None,
    ) -> None:
        self.task = task
        # The task's own directory: empty at the start, removed with its contents after.
        self.workdir = workdir
        # How long stopped work may take to end (SIGTERM to SIGKILL, or until a handler
        # is abandoned): the provider's setting, or less when this lease cannot cover it.
        self.kill_grace_seconds = kill_grace_seconds
        self.cancelled = Cancellation()
        self._progress: tuple[int | None, str] | None = None
        self.log = TaskLogger(task)
        self._on_work_ended = on_work_ended
        self.work_ended = False

    def end_work(self) -> None:
        """The provider's own signal that the work is over and only its outputs are on
        their way: from here on the task takes no slot, so the next one starts beside
        the upload. Not for handlers."""
        if not self.work_ended:
            self.work_ended = True
            self._on_work_ended()

    @property
    def name(self) -> str:
        return self.task.metadata.name

    @property
    def job(self) -> str:
        """The BatchJob the task belongs to."""
        return self.task.spec.batch_job

    @property
    def params(self) -> dict[str, Any]:
        return self.task.spec.params

    @property
    def capability(self) -> str:
        return self.task.spec.capability

    @property
    def epoch(self) -> int:
        """The lease epoch: a fencing token. Side effects keyed by it can be told apart
        from those of an earlier holder of the same task (a higher epoch is newer)."""
        return self.task.status.lease.epoch

    @property
    def attempt(self) -> int:
        """Which attempt this is, from 1: earlier failed or expired attempts plus one."""
        return self.task.status.attempts + 1

    @property
    def deadline(self) -> datetime | None:
        """When the task's timeoutSeconds, counted from the claim, runs out (UTC); None
        without a timeout. The operator stops the work then (ctx.cancelled)."""
        start, timeout = self.task.status.start_time, self.task.spec.timeout_seconds
        if start is None or timeout is None:
            return None
        return start + timedelta(seconds=timeout)

    def check(self) -> None:
        """Raise TaskStopped if the work must stop; call it between steps."""
        if self.cancelled.is_set():
            raise TaskStopped(f"task {self.name} must stop")

    def sleep(self, seconds: float) -> None:
        """Sleep in a sync handler, waking at once (with TaskStopped) if the work must stop."""
        self.cancelled.wait(seconds)
        self.check()

    async def sleep_async(self, seconds: float) -> None:
        """Sleep in an async handler, waking at once (with TaskStopped) if the work must stop."""
        await self.cancelled.wait_async(seconds)
        self.check()

    def progress(self, percent: int | None = None, message: str = "") -> None:
        """Record progress; the next write of the task carries the latest, at most one
        per renewal interval, so calling it often costs nothing.

        Safe to call from a handler's thread: it only replaces one attribute.
        """
        self._progress = (percent, message)

    @property
    def has_progress(self) -> bool:
        """Whether progress was reported since the last take_progress."""
        return self._progress is not None

    def take_progress(self) -> tuple[int | None, str] | None:
        """The progress reported since the last call, if any."""
        progress, self._progress = self._progress, None
        return progress

    def keep_progress(self, progress: tuple[int | None, str]) -> None:
        """Put back progress a failed renewal did not deliver, unless newer was reported."""
        if self._progress is None:
            self._progress = progress


class TaskLogger(logging.LoggerAdapter[logging.Logger]):
    """`ctx.log`: messages start with the task's name, and records carry `task` and
    `job` attributes for structured formatters."""

    def __init__(self, task: Task) -> None:
        name = task.metadata.name
        job = task.spec.batch_job
        logger = logging.getLogger(f"taskmill.task.{task.spec.capability}")
        super().__init__(logger, {"task": name, "job": job})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = self.extra or {}
        kwargs["extra"] = {**kwargs.get("extra", {}), **extra}
        return f"task {extra['task']}: {msg}", kwargs
