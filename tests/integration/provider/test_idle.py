"""An idle provider sends nothing but its watches and its presence renewals."""

import re
import time
from collections import Counter

import pytest

from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 60
LEASE_SECONDS = 15

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>.*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def namespaced_requests(metrics: str) -> Counter[tuple[str, str]]:
    """(verb, resource) counts of requests inside a namespace (scope namespace or resource).

    The control plane's kube-controller-manager (garbage collector, namespace
    controller) also lists and watches tasks, but cluster-wide; a provider works only
    inside its namespace. Scope tells the two apart where apiserver metrics do not
    split by client.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for line in metrics.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None:
            continue
        labels = dict(_LABEL.findall(sample["labels"]))
        if labels.get("scope") in ("namespace", "resource"):
            counts[(labels["verb"], labels["resource"])] += int(float(sample["value"]))
    return counts


def no_namespace_terminating(cluster: Cluster) -> bool:
    phases = cluster.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].status.phase}")
    return "Terminating" not in phases.stdout


def test_idle_provider_requests(cluster: Cluster, namespace: str, providers: Providers) -> None:
    # Earlier tests delete their namespaces in the background; the namespace
    # controller's namespaced LISTs and DELETEs would land in the window.
    wait_for(
        lambda: no_namespace_terminating(cluster),
        timeout=180,
        what="earlier tests' namespaces to be gone",
        interval=1,
    )
    provider = providers.start("idle-1", "idle", ["true"], lease_seconds=LEASE_SECONDS)
    wait_for(
        lambda: provider.log_text().count(" listed ") == 2,
        timeout=30,
        what="both watches' initial lists",
    )
    before = namespaced_requests(cluster.metrics())
    started = time.monotonic()
    wait_for(
        lambda: time.monotonic() - started >= WINDOW_SECONDS,
        timeout=WINDOW_SECONDS + 5,
        what="the idle window",
        interval=1,
    )
    calls = namespaced_requests(cluster.metrics()) - before
    print(f"\nnamespaced requests in {WINDOW_SECONDS}s with one idle provider: {dict(calls)}")

    renewals = WINDOW_SECONDS / (LEASE_SECONDS / 3)
    assert renewals - 2 <= calls[("PATCH", "leases")] <= renewals + 1
    # A watch is counted when it ends: at most one per watch if the server closed it.
    assert calls[("WATCH", "tasks")] <= 2
    # PUT leases: the API server renewing its own identity Lease in kube-system.
    assert set(calls) <= {("PATCH", "leases"), ("WATCH", "tasks"), ("PUT", "leases")}
