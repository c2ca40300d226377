"""The operator's Prometheus metrics.

Two kinds, by cost:
- state (jobs by status, tasks by capability and phase, providers and free slots):
  the reconciler publishes a small snapshot at most once a second, and a collector
  turns the latest one into gauges at scrape time, so state costs nothing per Task;
- transitions (dispatch latency, run duration, attempts by outcome, lease expiries,
  reconcile passes): counters and histograms updated where the operator sees them.

Labels are bounded: namespace, capability, phase, status and outcome, and one series
per BatchJob for its current status (as kube-state-metrics has one per Job) so that an
alert can name the failing job and clear when it is gone. Nothing is labelled per
Task or per provider pod.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from taskmill.api import Task
from taskmill.api.common import ACTIVE_TASK_PHASES, TaskPhase
from taskmill.metrics import ClientMetrics

TaskKey = tuple[str, str]  # (namespace, name)
# History outcomes (taskmill.api.task.HistoryEntry) as metric label values.
OUTCOMES = {
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Expired": "expired",
    "TimedOut": "timed_out",
    "Cancelled": "cancelled",
    "Released": "released",
}

# Dispatch is usually tens of milliseconds; a backlog can make it minutes.
DISPATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600)
RECONCILE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


@dataclass(frozen=True)
class JobState:
    namespace: str
    name: str
    status: str  # the normalized status


@dataclass(frozen=True)
class Snapshot:
    """What the operator knows right now, reduced to the numbers it exports."""

    jobs: tuple[JobState, ...] = ()
    tasks: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (capability, phase)
    providers: Mapping[str, int] = field(default_factory=dict)  # capability -> live providers
    free_slots: Mapping[str, int] = field(default_factory=dict)  # capability -> free slots


class _StateCollector(Collector):
    def __init__(self) -> None:
        # Replaced whole by publish(): the scrape thread reads one consistent object.
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        by_status: dict[tuple[str, str], int] = {}
        status = GaugeMetricFamily(
            "taskmill_batchjob_status",
            "1 for each BatchJob, labelled with its current normalized status",
            labels=("namespace", "batchjob", "status"),
        )
        for job in snap.jobs:
            status.add_metric((job.namespace, job.name, job.status), 1)
            key = (job.namespace, job.status)
            by_status[key] = by_status.get(key, 0) + 1
        jobs = GaugeMetricFamily(
            "taskmill_batchjobs",
            "BatchJobs by namespace and normalized status",
            labels=("namespace", "status"),
        )
        for (namespace, value), count in sorted(by_status.items()):
            jobs.add_metric((namespace, value), count)
        tasks = GaugeMetricFamily(
            "taskmill_tasks",
            "Unfinished and recently finished Tasks by capability and phase; "
            "the backlog of a capability is its Pending series",
            labels=("capability", "phase"),
        )
        for (capability, phase), count in sorted(snap.tasks.items()):
            tasks.add_metric((capability, phase), count)
        providers = GaugeMetricFamily(
            "taskmill_providers",
            "Live providers (fresh presence Leases) by capability",
            labels=("capability",),
        )
        for capability, count in sorted(snap.providers.items()):
            providers.add_metric((capability,), count)
        slots = GaugeMetricFamily(
            "taskmill_provider_free_slots",
            "Free slots that live providers advertise, by capability",
            labels=("capability",),
        )
        for capability, count in sorted(snap.free_slots.items()):
            slots.add_metric((capability,), count)
        yield from (status, jobs, tasks, providers, slots)


class OperatorMetrics:
    """Every instrument of the operator, in its own registry (never the global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._state = _StateCollector()
        self.registry.register(self._state)
        r = self.registry
        self.dispatch_latency = Histogram(
            "taskmill_dispatch_latency_seconds",
            "From a Task becoming leasable to a provider leasing it, as the operator saw it",
            ("capability",),
            buckets=DISPATCH_BUCKETS,
            registry=r,
        )
        self.run_duration = Histogram(
            "taskmill_task_run_duration_seconds",
            "From a Task's start to its completion, for finished attempts",
            ("capability",),
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "taskmill_task_attempts",
            "Ended attempts by outcome: succeeded, failed, expired, timed_out, cancelled",
            ("capability", "outcome"),
            registry=r,
        )
        self.lease_expiries = Counter(
            "taskmill_lease_expiries",
            "Leases the operator expired because their holder went silent",
            ("capability",),
            registry=r,
        )
        self.tasks_failed = Counter(
            "taskmill_tasks_failed",
            "Tasks that ended Failed after exhausting their attempts",
            ("capability",),
            registry=r,
        )
        self.reconcile_passes = Counter(
            "taskmill_reconcile_passes", "Reconcile passes run", registry=r
        )
        self.reconcile_errors = Counter(
            "taskmill_reconcile_errors",
            "Reconcile passes or writes that failed with an unexpected error",
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "taskmill_reconcile_duration_seconds",
            "Time one reconcile pass took",
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.leader = Gauge(
            "taskmill_leader", "1 while this operator replica leads, else 0", registry=r
        )
        self.client = ClientMetrics(r)

    def publish(self, snapshot: Snapshot) -> None:
        self._state.snapshot = snapshot


class TaskTransitions:
    """Turns the Task versions the store accepts into dispatch latency, run durations
    and attempt outcomes.

    It keeps, per unfinished Task, when it became leasable and the newest epoch whose
    outcome it counted: history is read only past that epoch, so a re-delivered version
    (a relist, a watch resumed) never counts an attempt twice. Times are the operator's
    own monotonic clock, like every other judgement it makes.
    """

    def __init__(self, metrics: OperatorMetrics) -> None:
        self._m = metrics
        self._leasable_since: dict[TaskKey, float] = {}
        self._counted: dict[TaskKey, int] = {}

    def observe(self, key: TaskKey, before: TaskPhase | None, task: Task, now: float) -> None:
        capability, phase = task.spec.capability, TaskPhase(task.status.phase)
        if phase == TaskPhase.PENDING and before != TaskPhase.PENDING:
            self._leasable_since[key] = now
        elif phase in ACTIVE_TASK_PHASES:
            since = self._leasable_since.pop(key, None)
            if since is not None:
                self._m.dispatch_latency.labels(capability).observe(now - since)
        self._count_outcomes(key, before, task)
        if phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED):
            if before is not None:  # seen finishing, not found finished by a relist
                self._finished(capability, task)
            self.forget(key)

    def _finished(self, capability: str, task: Task) -> None:
        started, ended = task.status.start_time, task.status.completion_time
        if started is not None and ended is not None:
            seconds = max(0.0, (ended - started).total_seconds())
            self._m.run_duration.labels(capability).observe(seconds)
        if task.status.phase == TaskPhase.FAILED:
            self._m.tasks_failed.labels(capability).inc()

    def _count_outcomes(self, key: TaskKey, before: TaskPhase | None, task: Task) -> None:
        history = task.status.history
        newest = max((h.epoch for h in history), default=0)
        if before is None and key not in self._counted:
            # First sight (a start or relist): what happened before is not ours to count.
            self._counted[key] = newest
            return
        counted = self._counted.get(key, 0)
        for entry in history:
            if entry.epoch <= counted:
                continue
            outcome = OUTCOMES.get(entry.outcome, "other")
            self._m.attempts.labels(task.spec.capability, outcome).inc()
            if outcome == "expired":
                self._m.lease_expiries.labels(task.spec.capability).inc()
        self._counted[key] = max(counted, newest)

    def forget(self, key: TaskKey) -> None:
        self._leasable_since.pop(key, None)
        self._counted.pop(key, None)
