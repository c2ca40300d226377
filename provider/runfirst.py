"""Run-first tasks (spec.claim Optimistic): run before they are claimed, then claimed
and reported in one compare-and-swap, so that such a task costs two writes (the
operator's create and this one) instead of three.

Nobody knows the run is under way: the operator sees a Pending task, and another
provider may run the same task at the same time. Their writes race; the API server
takes the first (protocol.Unclaimed: the task is still the same object, Pending, free,
at the epoch and attempt count the run started from) and refuses every later one,
because the first moved the epoch on. A refused write is final: its result is dropped
and counted, never retried against the newer state (which can only say that the task
was claimed, finished, cancelled or made again since). A lost race costs the run's
compute, nothing else; that is why only short, idempotent tasks may opt in
(docs/architecture.md, "Optimistic claims").

A run holds a slot like a claim in flight (Keeper.claiming): its claim is in flight for
as long as it runs. The provider stops it itself at spec.timeoutSeconds (the operator
cannot see it to stop it) and writes that attempt as TimedOut. At shutdown, or when the
task leaves Pending meanwhile, a run is stopped and writes nothing: the task stays (or
went) where it is for someone else.
"""

import asyncio
import logging
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import aiohttp
from taskmill.provider.background import Background
from taskmill.provider.backoff import RETRY_BACKOFF, sleep_unless
from taskmill.provider.clock import Clock
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.keeper import FINAL_WRITE_TIMEOUT, Executor, Keeper, outcome_of
from taskmill.provider.metrics import ProviderMetrics
from taskmill.provider.results import Outcome, error_outcome, own_cancellation, report

from taskmill.api import protocol
from taskmill.api.protocol import Patch
from taskmill.api.task import Task
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.client import JSON_PATCH
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

TIMED_OUT = "TimedOut"  # history outcome of a run stopped at spec.timeoutSeconds
TIMEOUT = "Timeout"  # its reason, as the operator writes it for a claimed task

_TRANSIENT = (aiohttp.ClientError, TimeoutError)
DENIED_HINT = (
    "claiming Optimistic tasks before running them from now on; check the provider's RBAC "
    "and that the taskmill admission policy is the chart's current one (older ones refuse "
    "a claim and result in one write)"
)


class Stop(StrEnum):
    """Why a run was asked to stop before it ended by itself."""

    TIMEOUT = "Timeout"  # spec.timeoutSeconds ran out: the attempt counts
    SHUTDOWN = "Shutdown"  # the provider is stopping: nothing is written
    GONE = "Gone"  # the task left Pending (claimed, held, cancelled, deleted): nothing


class Answer(StrEnum):
    """What became of the one write; the metric's `result` label."""

    ACCEPTED = "accepted"
    # Its test ops failed (or 409): someone else's write came first; or the task left
    # Pending while it ran, so the write was not even sent.
    LOST = "lost"
    GONE = "gone"  # 404: the task was deleted
    # 401/403: RBAC or an admission policy that predates run-first writes; this
    # provider claims Optimistic tasks first from then on (RunFirst.usable).
    DENIED = "denied"
    DROPPED = "dropped"  # not written: stopped, or given up at shutdown


def final_patch(
    task: Task, holder: str, started: datetime, now: datetime, outcome: Outcome, stop: Stop | None
) -> Patch | None:
    """The one write that claims `task` (as seen when the run started) and reports the
    run, or None when nothing may be written."""
    if stop in (Stop.SHUTDOWN, Stop.GONE):
        return None
    claimed, fencing = protocol.run_first(task, holder, started)
    if stop == Stop.TIMEOUT and not outcome.succeeded:
        ops = protocol.fail_attempt(
            claimed, fencing, now, outcome=TIMED_OUT, reason=TIMEOUT, result=outcome.result
        )
    else:  # a success even if it beat the timeout only just: the result is good
        ops = report(claimed, fencing, now, outcome)
    return [*ops, protocol.started_at(started)]


def answer_of(error: ApiError) -> Answer | None:
    """The answer an API error gives the one write; None when it may be retried as is."""
    if error.conflict:
        return Answer.LOST
    if error.status == 404:
        return Answer.GONE
    if error.status in (401, 403):
        return Answer.DENIED
    return None


@dataclass
class Run:
    task: Task
    ctx: Context
    stop: Stop | None = None

    def stop_for(self, reason: Stop) -> None:
        """Ask the work to stop; the first reason stands."""
        if self.stop is None:
            self.stop = reason
        self.ctx.cancelled.set()


class RunFirst:
    def __init__(
        self,
        api: KubeApi,
        config: ProviderConfig,
        executor: Executor,
        keeper: Keeper,
        clock: Clock,
        rng: random.Random,
        on_freed: Callable[[], None],
        metrics: ProviderMetrics | None = None,
        *,
        restore: Callable[[Task], None],
    ) -> None:
        self._api = api
        self._config = config
        self._executor = executor
        self._keeper = keeper
        self._clock = clock
        self._rng = rng
        self._on_freed = on_freed
        self._restore = restore  # a denied task back among the candidates, to be claimed
        self._metrics = metrics
        self.runs: dict[str, Run] = {}
        self.works = Background()
        self._abandon = asyncio.Event()  # set at the end of a shutdown: stop retrying writes
        self.answers = {answer: 0 for answer in Answer}

    @property
    def usable(self) -> bool:
        """False once a run-first write was denied: Optimistic tasks are then claimed
        first, as any other (which the same policy allows), instead of run in vain."""
        return self.answers[Answer.DENIED] == 0

    def busy_by_capability(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for run in list(self.runs.values()):
            capability = run.task.spec.capability
            busy[capability] = busy.get(capability, 0) + 1
        return busy

    def start(self, task: Task) -> None:
        """Run a Pending task now; it holds a slot until its one write is answered. A
        task already running here (a relist brings it back: it is still Pending) is
        not run twice."""
        name = task.metadata.name
        if name in self.runs:
            return
        self._keeper.claiming(name)
        workdir = Path(tempfile.mkdtemp(prefix=f"taskmill-{name}-"))
        started = self._clock.wall()
        claimed, _ = protocol.run_first(task, self._config.identity, started)
        ctx = Context(claimed, kill_grace_seconds=self._config.kill_grace_seconds, workdir=workdir)
        run = self.runs[name] = Run(task, ctx)
        log.info("task %s: running before claiming it (epoch %d)", name, task.status.lease.epoch)
        self.works.spawn(self._run(run, started))

    def left_pending(self, name: str) -> None:
        """The pending watch saw the task leave Pending: another result, a claim, a
        cancel or a suspend. Its write would be refused, or the task is not to run now,
        so its work is stopped."""
        run = self.runs.get(name)
        if run is not None:
            run.stop_for(Stop.GONE)

    def stop_all(self) -> None:
        for run in list(self.runs.values()):
            run.stop_for(Stop.SHUTDOWN)

    def abandon_writes(self) -> None:
        self._abandon.set()

    async def _run(self, run: Run, started: datetime) -> None:
        name = run.task.metadata.name
        timeout = run.task.spec.timeout_seconds
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, run.stop_for, Stop.TIMEOUT)
        answer = Answer.DROPPED
        capability = run.task.spec.capability
        began = self._clock.mono()
        try:
            outcome = await self._execute(run)
            now = self._clock.wall()
            ops = final_patch(run.task, self._config.identity, started, now, outcome, run.stop)
            if ops is None:
                log.info("task %s: run stopped (%s); nothing written", name, run.stop)
                answer = Answer.LOST if run.stop == Stop.GONE else Answer.DROPPED
            else:
                if self._metrics is not None:  # as the keeper counts a claimed attempt
                    self._metrics.run_duration.labels(capability).observe(
                        self._clock.mono() - began
                    )
                    self._metrics.tasks.labels(capability, outcome_of(ops)).inc()
                answer = await self._write(name, run.task.status.lease.epoch + 1, ops)
        finally:
            if timer is not None:
                timer.cancel()
            self.runs.pop(name, None)
            self.answers[answer] += 1
            if answer == Answer.DENIED:
                self._restore(run.task)
            if self._metrics is not None:
                self._metrics.run_first.labels(capability, answer.value).inc()
            self._keeper.claimed(name, None)
            self._on_freed()

    async def _execute(self, run: Run) -> Outcome:
        try:
            return await self._executor.execute(run.ctx.task, run.ctx)
        except BaseException as e:
            if own_cancellation(e):
                raise
            log.exception("task %s: executor failed", run.ctx.name)
            return error_outcome(e, traceback.format_exc())
        finally:
            await asyncio.to_thread(shutil.rmtree, run.ctx.workdir, ignore_errors=True)

    async def _write(self, name: str, epoch: int, ops: Patch) -> Answer:
        """The one write; retried as it is on transient errors (its tests make a second
        landing impossible), never rebuilt against a newer state."""
        failures = 0
        path = TASKS.path(self._config.namespace, name, "status")
        while True:
            try:
                await self._api.request(
                    "PATCH",
                    path,
                    body=ops,
                    content_type=JSON_PATCH,
                    request_timeout=FINAL_WRITE_TIMEOUT,
                )
            except ApiError as e:
                answer = answer_of(e)
                if answer == Answer.DENIED:
                    log.error("task %s: run-first write denied (%s); %s", name, e, DENIED_HINT)
                if answer is not None:
                    log.info("task %s: run-first result dropped (%s)", name, e)
                    return answer
                error: Exception = e
            except _TRANSIENT as e:
                error = e
            else:
                # The epoch of the lease the write held, as the keeper reports it (and the
                # Task's history records it): the chaos bench matches the two.
                outcome = outcome_of(ops)
                log.info(
                    "task %s: claimed and reported in one write (epoch %d) -> %s",
                    name,
                    epoch,
                    outcome,
                )
                return Answer.ACCEPTED
            failures += 1
            if self._abandon.is_set():
                log.warning("task %s: run-first write failed (%s); dropped at exit", name, error)
                return Answer.DROPPED
            log.warning("task %s: run-first write failed (%s); retrying", name, error)
            await sleep_unless(self._abandon, RETRY_BACKOFF.delay(failures, self._rng))
