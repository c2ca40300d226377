"""The handle a piece of work gets: its task, progress reporting, cancellation."""

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from taskmill.api.task import Task


class Context:
    """Passed to SDK handlers as `ctx` (and used by the command runner).

    `cancelled` is set when the work must stop: the task was cancelled or deleted, the
    lease was lost, or the provider is shutting down. Async handlers can await it;
    sync handlers (run in a thread) poll `ctx.cancelled.is_set()`. Work that ignores
    it is abandoned after the kill grace period and its result is never written.
    """

    def __init__(self, task: Task, *, kill_grace_seconds: float, workdir: Path) -> None:
        self.task = task
        # The task's own directory: empty at the start, removed with its contents after.
        self.workdir = workdir
        # How long stopped work may take to end (SIGTERM to SIGKILL, or until a handler
        # is abandoned): the provider's setting, or less when this lease cannot cover it.
        self.kill_grace_seconds = kill_grace_seconds
        self.cancelled = asyncio.Event()
        self._progress: tuple[int | None, str] | None = None

    @property
    def name(self) -> str:
        return self.task.metadata.name

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

    def progress(self, percent: int | None = None, message: str = "") -> None:
        """Record progress; the next lease renewal carries it (no extra write).

        Safe to call from a handler's thread: it only replaces one attribute.
        """
        self._progress = (percent, message)

    def take_progress(self) -> tuple[int | None, str] | None:
        """The progress reported since the last call, if any."""
        progress, self._progress = self._progress, None
        return progress

    def keep_progress(self, progress: tuple[int | None, str]) -> None:
        """Put back progress a failed renewal did not deliver, unless newer was reported."""
        if self._progress is None:
            self._progress = progress
