"""An idle provider sends nothing but its watches and its presence renewals."""

import re
import time
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.harness.ports import free_ports
from tests.integration.provider.kit import Providers

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 60
LEASE_SECONDS = 15
WATCHES = 4  # Task watches of an idle provider (the default --pending-watch nominated)

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>.*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def own_requests(port: int) -> Counter[tuple[str, str]]:
    """(verb, resource) of the requests the provider itself counted (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text: bytes = resp.read()
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == "taskmill_api_requests_total":
                key = (sample.labels["verb"], sample.labels["resource"])
                counts[key] += int(sample.value)
    return counts


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
    (port,) = free_ports(1)
    provider = providers.start(
        "idle-1",
        "idle",
        ["true"],
        lease_seconds=LEASE_SECONDS,
        extra=["--metrics-bind-address", f"127.0.0.1:{port}"],
    )
    # Its own nominees, nobody's, what it holds, and (idle: hungry) others' nominees.
    wait_for(
        lambda: provider.log_text().count(" listed ") == WATCHES,
        timeout=30,
        what="the watches' initial lists",
    )
    before, own_before = namespaced_requests(cluster.metrics()), own_requests(port)
    started = time.monotonic()
    wait_for(
        lambda: time.monotonic() - started >= WINDOW_SECONDS,
        timeout=WINDOW_SECONDS + 5,
        what="the idle window",
        interval=1,
    )
    calls = namespaced_requests(cluster.metrics()) - before
    own = own_requests(port) - own_before
    print(f"\nnamespaced requests in {WINDOW_SECONDS}s with one idle provider: {dict(calls)}")

    renewals = WINDOW_SECONDS / (LEASE_SECONDS / 3)
    assert renewals - 2 <= calls[("PATCH", "leases")] <= renewals + 1
    # A watch is counted when it ends: at most one per watch if the server closed it.
    assert calls[("WATCH", "tasks")] <= WATCHES
    # Nothing else touched Tasks in the namespace. Other resources are not checked on
    # the server's side: its counts do not split by client, and other clients' watches
    # (leases, configmaps) end in the window now and then. The provider's own tally
    # covers everything it sent: presence renewals and nothing else.
    assert {verb for verb, resource in calls if resource == "tasks"} <= {"WATCH"}
    assert set(own) == {("PATCH", "leases")}, own
    # (the two are read a moment apart: a renewal may fall between them)
    assert abs(own[("PATCH", "leases")] - calls[("PATCH", "leases")]) <= 1
