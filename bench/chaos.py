"""Chaos: a job runs while providers are SIGKILLed and SIGSTOPped, the operator is
kill -9'd and restarted, and (the full plan) the API server is stopped for 30 s and etcd
restarted; afterwards every task must have exactly one accepted result, and no lease
may have been expired because of the control-plane outage.

"Accepted" means a fenced final write succeeded. Two records of it are compared:
the Task's history (a Succeeded entry names the holder and epoch whose write the API
server took) and the providers' logs (a provider logs `task NAME: reported (epoch N)
-> Succeeded` only once its write was taken, so it is what the provider believes and
acts on). A task has a duplicate when the two together name more than one
(holder, epoch); it is lost when it did not end Succeeded with a recorded success. A
SIGKILLed provider may die between its write and its log line: such results are
recorded but unlogged, which is counted but is no fault. With retention on (the full
plan: spec.retention.succeededTasks Delete) a succeeded Task is deleted once the job's
status records its index: then that record (status.succeededIndexes) says it
succeeded, and the providers' logs are what is left to name its accepted results
(a kept Task still adds its history). Each run of the command
also appends the task's name to a file, so re-executions (expected under faults:
work is at-least-once, results exactly-once) are counted too.

Shared by tests/integration/test_chaos.py (a small plan) and the bench (the full
plan, several seeds).
"""

import asyncio
import contextlib
import random
import re
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from taskmill.operator.indexranges import IndexRanges
from taskmill.provider.config import DEFAULT_PENDING_WATCH

from bench.context import CAPABILITY, Bench
from bench.procs import Launcher, Proc
from bench.stack import list_tasks, parse_time, wait_job
from taskmill.kube import Kube
from taskmill.kube.paths import BATCHJOBS, EVENTS
from tests.builders import make_batchjob
from tests.harness import ControlPlane

JOB = "chaos"
# The operator's Event reasons for a lease it ended because renewals stopped.
EXPIRY_REASONS = ("LeaseExpired", "ProviderLost")
# The provider's log lines for a final write the API server took: (holder, task, epoch);
# the keeper's after a claim, run-first's for a run claimed with its result (Optimistic).
ACCEPTED = (
    re.compile(
        r" (\S+) taskmill\.provider\.keeper: task (\S+): reported \(epoch (\d+)\) -> Succeeded"
    ),
    re.compile(
        r" (\S+) taskmill\.provider\.runfirst: task (\S+): claimed and reported in one write"
        r" \(epoch (\d+)\) -> succeeded"
    ),
)
KILL, STOP, RESTART = (
    "SIGKILL a provider",
    "SIGSTOP a provider past its lease",
    "kill -9 the operator",
)
# Control-plane faults: the harness's own components (bench only, never a test).
PAUSE_API, RESTART_ETCD = "SIGSTOP the kube-apiserver for 30 s", "restart etcd"
API_PAUSE_SECONDS = 30.0


@dataclass(frozen=True)
class Plan:
    tasks: int
    providers: int
    slots: int
    task_seconds: float
    lease_seconds: int = 5
    grace_seconds: float = 1.0  # the operator's --lease-grace-seconds
    retention: str = ""  # spec.retention.succeededTasks; "": the default (Auto)
    claim: str = "Lease"  # spec.claim; Optimistic runs first, timeoutSeconds = the lease
    pending_watch: str = DEFAULT_PENDING_WATCH  # the providers' --pending-watch
    # (fraction of tasks succeeded, fault): applied in order as the job progresses
    faults: tuple[tuple[float, str], ...] = (
        (0.10, KILL),
        (0.20, RESTART),
        (0.30, STOP),
        (0.45, KILL),
        (0.60, RESTART),
        (0.75, KILL),
    )


FULL = Plan(
    tasks=1000,
    providers=8,
    slots=4,
    task_seconds=0.5,
    retention="Delete",
    faults=(
        (0.10, KILL),
        (0.20, RESTART),
        (0.30, STOP),
        (0.40, PAUSE_API),
        (0.45, KILL),
        (0.55, RESTART_ETCD),
        (0.60, RESTART),
        (0.75, KILL),
    ),
)
SMALL = Plan(tasks=150, providers=5, slots=2, task_seconds=0.6)


@dataclass
class Outcome:
    tasks: int
    job_phase: str
    succeeded: int  # Tasks in phase Succeeded
    lost: int  # Tasks missing, not Succeeded, or Succeeded with no recorded success
    duplicates: int  # distinct accepted (holder, epoch) beyond the first, per task
    accepted: int  # tasks with exactly one accepted result
    unlogged: int  # recorded successes whose provider died before logging them
    executions: int  # command runs, re-executions included
    expired: int  # leases the operator expired
    expired_in_outage: int  # of those, expired while the API server was stopped or after
    makespan: float
    tasks_left: int  # Task objects at the end (retention deletes the recorded ones)
    faults: list[str] = field(default_factory=list)


class Chaos:
    def __init__(
        self,
        kube: Kube,
        launcher: Launcher,
        namespace: str,
        plan: Plan,
        rng: random.Random,
        say: Callable[[str], None],
        plane: ControlPlane | None = None,
    ) -> None:
        self.kube = kube
        self.plane = plane
        self.launcher = launcher
        self.namespace = namespace
        self.plan = plan
        self.rng = rng
        self.say = say
        self.runs_file = launcher.log_dir / f"{namespace}.runs"
        self.providers: list[Proc] = []
        self.operator: Proc | None = None
        self.faults: list[str] = []
        self._stopped: set[str] = set()
        self._resumes: list[asyncio.Task[None]] = []
        # Wall-clock (start, end) of the API server outage: an expiry from its start
        # until a lease plus grace after it is one the outage caused.
        self.outage: tuple[float, float] | None = None

    def _start_operator(self) -> None:
        extra = ["--lease-grace-seconds", str(self.plan.grace_seconds)]
        self.operator = self.launcher.operator(self.namespace, extra=extra)

    async def run(self) -> Outcome:
        plan = self.plan
        command = [
            "sh",
            "-c",
            f'echo "$TASKMILL_TASK" >> "{self.runs_file}"; sleep {plan.task_seconds}',
        ]
        self.providers = [
            self.launcher.provider(
                self.namespace,
                f"c{i}",
                CAPABILITY,
                command,
                concurrency=plan.slots,
                lease_seconds=plan.lease_seconds,
                ready=False,
                extra=["--pending-watch", plan.pending_watch],
            )
            for i in range(plan.providers)
        ]
        for proc in self.providers:
            proc.wait_ready("serving")
        self._start_operator()
        spec: dict[str, Any] = {
            "range": {"start": 0, "end": plan.tasks},
            "lease": {"durationSeconds": plan.lease_seconds},
            "retry": {"maxAttempts": 20, "backoffSeconds": 0},
        }
        if plan.retention:
            spec["retention"] = {"succeededTasks": plan.retention}
        if plan.claim != "Lease":
            spec |= {"claim": plan.claim, "timeoutSeconds": plan.lease_seconds}
        started = time.time()
        await self.kube.create(
            BATCHJOBS.path(self.namespace), make_batchjob(JOB, CAPABILITY).spec(**spec).obj()
        )
        pending = list(plan.faults)

        def progress(body: dict[str, Any]) -> None:
            done = body.get("status", {}).get("counts", {}).get("succeeded", 0)
            while pending and done >= pending[0][0] * plan.tasks:
                self._inject(pending.pop(0)[1], done)

        timeout = 240 + plan.tasks * plan.task_seconds
        try:
            job = await wait_job(
                self.kube, self.namespace, JOB, within=timeout, poll=0.25, on_poll=progress
            )
        finally:
            for resume in self._resumes:
                resume.cancel()
            await asyncio.gather(*self._resumes, return_exceptions=True)
        return await self._verify(job, started)

    def _inject(self, fault: str, done: int) -> None:
        live = [p for p in self.providers if p.alive() and p.name not in self._stopped]
        if fault in (PAUSE_API, RESTART_ETCD):
            if self.plane is None:
                raise ValueError(f"{fault!r} needs the harness's control plane")
            target = "control plane"
            if fault == PAUSE_API:
                self._resumes.append(asyncio.create_task(self._pause_api(self.plane)))
            else:
                self._resumes.append(
                    asyncio.create_task(asyncio.to_thread(self.plane.restart, "etcd"))
                )
        elif fault == RESTART:
            assert self.operator is not None
            self.operator.kill()
            self._start_operator()
            target = "operator"
        else:
            victim = self.rng.choice(live)
            target = victim.name
            if fault == KILL:
                victim.kill()
            else:
                victim.signal(signal.SIGSTOP)
                self._stopped.add(victim.name)
                self._resumes.append(asyncio.create_task(self._resume_later(victim)))
        note = f"{fault} ({target}) at {done}/{self.plan.tasks} succeeded"
        self.faults.append(note)
        self.say(f"chaos: {note}")

    async def _pause_api(self, plane: ControlPlane) -> None:
        started = time.time()
        plane.signal("kube-apiserver", signal.SIGSTOP)
        try:
            await asyncio.sleep(API_PAUSE_SECONDS)
        finally:
            plane.signal("kube-apiserver", signal.SIGCONT)
            self.outage = (started, time.time())
            self.say("chaos: SIGCONT kube-apiserver")

    async def _resume_later(self, proc: Proc) -> None:
        """SIGCONT once the operator must have expired the stopped provider's leases."""
        await asyncio.sleep(self.plan.lease_seconds + self.plan.grace_seconds + 3)
        proc.signal(signal.SIGCONT)
        self._stopped.discard(proc.name)
        self.say(f"chaos: SIGCONT {proc.name}")

    async def _verify(self, job: dict[str, Any], started: float) -> Outcome:
        items = await list_tasks(self.kube, self.namespace)
        logged: dict[str, set[tuple[str, int]]] = defaultdict(set)
        accepted = duplicates = unlogged = expired = in_outage = 0
        for proc in self.providers:
            text = proc.log_text()
            for holder, name, epoch in (m for line in ACCEPTED for m in line.findall(text)):
                logged[name].add((holder, int(epoch)))
        names = {f"{JOB}-{i}" for i in range(self.plan.tasks)}
        # Deleted once recorded: the job's record is their only trace besides the logs.
        record = IndexRanges.parse(job.get("status", {}).get("succeededIndexes") or "")
        kept = {t["metadata"]["name"] for t in items}
        succeeded = {f"{JOB}-{i}" for i in range(self.plan.tasks) if i in record} - kept
        for name in succeeded:
            results = logged[name]
            accepted += len(results) == 1
            duplicates += max(0, len(results) - 1)
        for t in items:
            name, status = t["metadata"]["name"], t.get("status", {})
            history = status.get("history") or []
            recorded = {(h["holder"], h["epoch"]) for h in history if h["outcome"] == "Succeeded"}
            expiries = [h for h in history if h.get("outcome") == "Expired"]
            expired += len(expiries)
            in_outage += sum(1 for h in expiries if self._in_outage(parse_time(h["time"])))
            if status.get("phase") == "Succeeded" and recorded:
                succeeded.add(name)
            results = recorded | logged[name]
            accepted += len(results) == 1
            duplicates += max(0, len(results) - 1)
            unlogged += bool(recorded - logged[name])
        if self.plan.retention:
            # Most Tasks, and their histories, are gone: the operator's Events on them remain.
            expired, in_outage = await self._expiry_events()
        runs = self.runs_file.read_text().split() if self.runs_file.exists() else []
        done = [
            parse_time(t["status"]["completionTime"])
            for t in [*items, job]
            if t.get("status", {}).get("completionTime")
        ]
        return Outcome(
            tasks=self.plan.tasks,
            job_phase=job.get("status", {}).get("phase", ""),
            succeeded=len(succeeded & names),
            lost=len(names - succeeded),
            duplicates=duplicates,
            accepted=accepted,
            unlogged=unlogged,
            executions=len(runs),
            expired=expired,
            expired_in_outage=in_outage,
            makespan=(max(done) - started) if done else float("nan"),
            tasks_left=len(items),
            faults=self.faults,
        )

    async def _expiry_events(self) -> tuple[int, int]:
        """Leases the operator ended for want of renewals, from its Events on the Tasks
        (one per ending): how many, and how many of them in the API server outage."""
        listed = await self.kube.list_objects(EVENTS.path(self.namespace))
        times = [
            parse_time(e["eventTime"])
            for e in listed["items"]
            if e.get("reason") in EXPIRY_REASONS and e.get("regarding", {}).get("kind") == "Task"
        ]
        return len(times), sum(1 for at in times if self._in_outage(at))

    def _in_outage(self, at: float) -> bool:
        if self.outage is None:
            return False
        start, end = self.outage
        return start <= at <= end + self.plan.lease_seconds + self.plan.grace_seconds


async def run_chaos(
    kube: Kube,
    launcher: Launcher,
    namespace: str,
    plan: Plan,
    seed: int,
    say: Callable[[str], None],
    plane: ControlPlane | None = None,
) -> Outcome:
    chaos = Chaos(kube, launcher, namespace, plan, random.Random(seed), say, plane)
    try:
        return await chaos.run()
    finally:
        for proc in chaos.providers:
            proc.signal(signal.SIGCONT)
        launcher.stop_all()


async def bench_run(
    bench: Bench, seed: int, claim: str = "Lease", pending_watch: str = DEFAULT_PENDING_WATCH
) -> dict[str, Any]:
    namespace = await bench.namespace("chaos")
    plan = replace(FULL, claim=claim, pending_watch=pending_watch)
    bench.say(
        f"chaos: {plan.tasks} tasks, {plan.providers} providers x {plan.slots}, "
        f"spec.claim {claim}, --pending-watch {pending_watch}, seed {seed}"
    )
    try:
        outcome = await run_chaos(
            bench.kube, bench.launcher, namespace, plan, seed, bench.say, bench.plane
        )
    finally:
        with contextlib.suppress(Exception):
            await bench.cleanup(namespace, [])
    bench.say(
        f"chaos: job {outcome.job_phase}, lost {outcome.lost}, duplicates {outcome.duplicates}, "
        f"{outcome.executions} executions for {outcome.tasks} tasks, "
        f"{outcome.expired} leases expired ({outcome.expired_in_outage} in the API outage), "
        f"{outcome.tasks_left} Tasks left"
    )
    return {
        "seed": seed,
        "lost": outcome.lost,
        "duplicates": outcome.duplicates,
        "unlogged": outcome.unlogged,
        "executions": outcome.executions,
        "expired": outcome.expired,
        "expired_in_outage": outcome.expired_in_outage,
        "makespan_s": outcome.makespan,
        "tasks_left": outcome.tasks_left,
        "job_succeeded": float(outcome.job_phase == "Succeeded"),
        "faults_applied": len(outcome.faults),
        "detail": {
            "faults": outcome.faults,
            "job_phase": outcome.job_phase,
            "claim": claim,
            "pending_watch": pending_watch,
        },
    }


def totals(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "lost_sum": float(sum(r["lost"] for r in runs)),
        "duplicates_sum": float(sum(r["duplicates"] for r in runs)),
        "expired_in_outage_sum": float(sum(r["expired_in_outage"] for r in runs)),
        "seeds": float(len(runs)),
    }
