"""Why a workload is not running, or not finished: every cause that holds, in the order a
person would check them, each with what to do."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskmill.api.batchjob import BatchJob
from taskmill.api.common import TERMINAL_JOB_PHASES, TaskPhase
from taskmill.api.protocol import HELD_BACKOFF
from taskmill.api.task import Task, order_key
from taskmill.views.capacity import LiveProvider

MAX_FAILURES_SHOWN = 5
RESUME = """'{"spec": {"suspend": false}}'"""


@dataclass(frozen=True)
class Cause:
    title: str
    detail: str
    next_step: str = ""


def why_batchjob(
    job: BatchJob,
    tasks: Sequence[Task],
    queue: Sequence[Task],
    providers: Sequence[LiveProvider],
    predecessors: Mapping[str, str],
    now: datetime,
) -> list[Cause]:
    """`tasks`: the job's own; `queue`: every Pending Task of its namespace;
    `predecessors`: name -> phase of the BatchJobs in its namespace."""
    name, ns = job.metadata.name, job.metadata.namespace
    status, spec = job.status, job.spec
    causes: list[Cause] = []
    if status.phase in TERMINAL_JOB_PHASES:
        return [Cause("finished", f"the job ended {status.phase}", _failures_hint(job))]
    if spec.cancel:
        causes.append(Cause("cancel requested", "spec.cancel is set: running tasks are stopping"))
    if spec.suspend:
        causes.append(
            Cause(
                "suspended",
                "spec.suspend is set: nothing new is leased",
                f"kubectl patch bj {name} -n {ns} --type=merge -p {RESUME}",
            )
        )
    waiting_for = [
        f"{p} ({predecessors.get(p, 'missing')})"
        for p in spec.depends_on or ()
        if predecessors.get(p) != "Succeeded"
    ]
    if waiting_for and status.dependencies_met_time is None:
        causes.append(
            Cause(
                "predecessors unfinished",
                "waiting for " + ", ".join(waiting_for),
                f"kubectl taskmill why {spec.depends_on[0] if spec.depends_on else ''} -n {ns}",
            )
        )
    serving = [p for p in providers if spec.capability in p.capabilities]
    if not serving:
        causes.append(
            Cause(
                "no provider for the capability",
                f"no live provider serves {spec.capability}",
                f"start a provider with capability {spec.capability}",
            )
        )
    elif not any(p.slots > p.busy for p in serving):
        causes.append(
            Cause(
                "providers busy",
                f"{len(serving)} provider(s) serve {spec.capability}; every slot is taken",
                "add providers, or wait",
            )
        )
    leased = sum(1 for t in tasks if t.status.phase in (TaskPhase.LEASED, TaskPhase.RUNNING))
    if spec.parallelism is not None and leased >= spec.parallelism:
        causes.append(
            Cause(
                "parallelism reached",
                f"{leased} task(s) run, spec.parallelism is {spec.parallelism}",
                "raise spec.parallelism to run more at once",
            )
        )
    backoff = [
        t for t in tasks if t.status.phase == TaskPhase.HELD and t.status.reason == HELD_BACKOFF
    ]
    if backoff:
        soonest = min((t.status.retry_after for t in backoff if t.status.retry_after), default=None)
        when = f"; the next at {soonest.isoformat()}" if soonest else ""
        causes.append(
            Cause("retries in backoff", f"{len(backoff)} task(s) wait to be retried{when}")
        )
    position = _position(tasks, queue, spec.capability)
    if position is not None:
        ahead, total = position
        causes.append(
            Cause(
                "queued",
                f"its first pending task is number {ahead + 1} of {total} for "
                f"{spec.capability} (higher priority and older work goes first)",
                "raise spec.priority to move ahead" if ahead else "",
            )
        )
    failing = [t for t in tasks if t.status.attempts > 0 and t.status.result is not None]
    if failing:
        shown = "; ".join(
            f"{t.metadata.name}: {t.status.result.message or t.status.result.reason}"
            for t in failing[:MAX_FAILURES_SHOWN]
            if t.status.result is not None
        )
        causes.append(Cause("tasks failing", f"{len(failing)} task(s) failed an attempt: {shown}"))
    if leased and not causes:
        causes.append(Cause("running", f"{leased} task(s) are leased or running"))
    return causes


def _position(
    tasks: Sequence[Task], queue: Sequence[Task], capability: str
) -> tuple[int, int] | None:
    """(tasks ahead of the job's first pending task, queue length) for its capability."""
    own = [t for t in tasks if t.status.phase == TaskPhase.PENDING]
    if not own:
        return None
    first = min(own, key=order_key)
    same = sorted((t for t in queue if t.spec.capability == capability), key=order_key)
    ahead = sum(1 for t in same if order_key(t) < order_key(first))
    return ahead, len(same)


def _failures_hint(job: BatchJob) -> str:
    if job.status.failed_tasks:
        return f"kubectl get task {job.status.failed_tasks[0]} -n {job.metadata.namespace} -o yaml"
    return ""


def why_other(obj: Mapping[str, Any], status: str, reason: str) -> list[Cause]:
    """For kinds taskmill does not run: what its normalized status says, and the usual
    next step."""
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name", ""), meta.get("namespace", "")
    spec = obj.get("spec") or {}
    causes = [Cause(status, reason)]
    if spec.get("suspend"):
        causes.append(Cause("suspended", "spec.suspend is set"))
    if (
        kind == "Job"
        and (obj.get("status") or {}).get("active")
        and not (obj.get("status") or {}).get("ready")
    ):
        causes.append(
            Cause(
                "pods not ready",
                "its pods exist but none is ready",
                f"kubectl describe pods -n {ns} -l batch.kubernetes.io/job-name={name}",
            )
        )
    return causes
