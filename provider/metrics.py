"""A provider's Prometheus metrics: what it claimed, ran and renewed.

Labels are bounded by the capabilities the provider serves and a few outcomes; the
pod is Prometheus' target label, never one of ours.
"""

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from taskmill.metrics import ClientMetrics

RUN_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600)
RENEW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _LiveCollector(Collector):
    """Claims and busy slots, read from the agent's own tallies at scrape time."""

    def __init__(self) -> None:
        self.claims: Callable[[], tuple[int, int]] = lambda: (0, 0)
        self.busy: Callable[[], Mapping[str, int]] = dict

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        won, lost = self.claims()
        claims = CounterMetricFamily(
            "taskmill_provider_claims",
            "Claims by result: won, or lost to another provider's compare-and-swap",
            labels=("result",),
        )
        claims.add_metric(("won",), won)
        claims.add_metric(("lost",), lost)
        busy = GaugeMetricFamily(
            "taskmill_provider_slots_busy",
            "Slots running a task now, by the task's capability",
            labels=("capability",),
        )
        for capability, count in sorted(self.busy().items()):
            busy.add_metric((capability,), count)
        yield from (claims, busy)


class ProviderMetrics:
    """Every instrument of one provider process, in its own registry."""

    def __init__(self, slots: int) -> None:
        self.registry = r = CollectorRegistry()
        self.live = _LiveCollector()
        r.register(self.live)
        self.tasks = Counter(
            "taskmill_provider_tasks",
            "Attempts this provider ran, by capability and outcome "
            "(succeeded, failed, cancelled, released)",
            ("capability", "outcome"),
            registry=r,
        )
        self.run_duration = Histogram(
            "taskmill_provider_task_duration_seconds",
            "How long this provider's attempts ran",
            ("capability",),
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.run_first = Counter(
            "taskmill_provider_run_first",
            "Tasks run before they were claimed (spec.claim Optimistic), by capability and "
            "what became of their one write: accepted, lost (another result came first, or "
            "the task left Pending), gone (deleted) or dropped (stopped at shutdown)",
            ("capability", "result"),
            registry=r,
        )
        self.slots = Gauge("taskmill_provider_slots", "Slots this provider offers", registry=r)
        self.slots.set(slots)
        self.renewals = Counter(
            "taskmill_provider_renewals",
            "Lease renewals by result: ok, lost (the fence moved on) or error",
            ("result",),
            registry=r,
        )
        self.renewal_latency = Histogram(
            "taskmill_provider_renewal_latency_seconds",
            "Round trip of one lease renewal",
            buckets=RENEW_BUCKETS,
            registry=r,
        )
        self.client = ClientMetrics(r)
