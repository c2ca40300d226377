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

    def publish(self, snapshot: Snapshot) -> None:
        self._state.snapshot = snapshot
