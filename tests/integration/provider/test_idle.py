"""An idle provider sends nothing but its watches and its presence renewals."""

import time

import pytest

from tests.harness.cluster import Cluster
from tests.harness.metrics import diff, request_counts
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 60
LEASE_SECONDS = 15


def task_requests(calls: dict[tuple[str, str, str], int]) -> dict[tuple[str, str, str], int]:
    return {key: n for key, n in calls.items() if key[1] == "tasks"}


def lease_requests(calls: dict[tuple[str, str, str], int]) -> dict[tuple[str, str, str], int]:
    return {key: n for key, n in calls.items() if key[1] == "leases"}


def test_idle_provider_requests(cluster: Cluster, namespace: str, providers: Providers) -> None:
    """Measured on the whole API server, so other clients of this control plane
    (its own identity Lease, other tests' leftovers) are told apart by verb: the
    provider is the only client that PATCHes leases or touches tasks in this window."""
    providers.start("idle-1", "idle", ["true"], lease_seconds=LEASE_SECONDS)
    # Past start-up (announce, the two LISTs, the two WATCHes being opened).
    wait_for(lambda: True, timeout=1, what="nothing")
    before = request_counts(cluster.metrics())
    started = time.monotonic()
    wait_for(
        lambda: time.monotonic() - started >= WINDOW_SECONDS,
        timeout=WINDOW_SECONDS + 5,
        what="the idle window",
        interval=1,
    )
    calls = diff(before, request_counts(cluster.metrics()))
    print(f"\nrequests in {WINDOW_SECONDS}s with one idle provider: {dict(calls)}")

    renewals = WINDOW_SECONDS / (LEASE_SECONDS / 3)
    patches = calls[("PATCH", "leases", "")]
    assert renewals - 2 <= patches <= renewals + 1
    assert set(task_requests(calls)) <= {("WATCH", "tasks", "")}
    assert sum(task_requests(calls).values()) <= 2  # a watch the server closed and reopened
    assert not {key for key in lease_requests(calls) if key[0] in {"POST", "DELETE", "LIST", "GET"}}
