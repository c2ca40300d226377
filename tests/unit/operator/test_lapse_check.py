"""A lapse seen on the watch is read back before it ends anything: whole reconciler
passes against the typed fake API, with a presence view the test holds back (a lagging
watch) and an injected clock."""

import asyncio
from typing import Any

import pytest
from taskmill.operator.events import Recorder
from taskmill.operator.presence import ProviderPresence
from taskmill.operator.reconciler import RETRY_AFTER_ERROR, Reconciler, Settings

from taskmill.kube import ApiError
from taskmill.kube.paths import LEASES
from tests.fakes.kube import on
from tests.unit.operator.test_reconciler_passes import NS, World, running

LEASE_NAME = "taskmill-provider-p"
UNAVAILABLE = ApiError(503, "ServiceUnavailable", "etcd is gone")


def presence_lease(instance: str = "i1", renew: str = "2026-01-01T12:00:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "namespace": NS,
            "name": LEASE_NAME,
            "labels": {"taskmill.io/provider": "true", "capability.taskmill.io/cap": "true"},
            "annotations": {"taskmill.io/instance": instance},
        },
        "spec": {"holderIdentity": "p", "renewTime": renew, "leaseDurationSeconds": 5},
    }


def bound() -> dict[str, Any]:
    status = running()
    status["lease"]["presenceInstance"] = "i1"
    return status


class Lagging(World):
    """Two jobs of two Tasks each, all four held by provider `p` and bound to its
    presence Lease (instance i1). The operator saw that Lease once, at the start; the
    test then moves the clock past its lapse and changes the Lease only in the API
    server, as a watch that lags would leave it."""

    def __init__(self) -> None:
        super().__init__()
        self.presence = ProviderPresence(grace_seconds=1.0)
        self.reconciler = Reconciler(
            self.kube,
            self.store,
            self.presence,
            Recorder(self.kube, "op"),
            Settings(status_interval_seconds=0.0),
            wall=lambda: self.wall,
            monotonic=lambda: self.mono,
        )
        self.presence.put(self.kube.put(LEASES.path(NS), presence_lease()), self.mono)
        for job in ("a", "b"):
            self.job(job, items=[1, 2], lease={"durationSeconds": 5})
            self.run(job)
            for index in (0, 1):
                self.task(index, job, **bound())

    def lease_reads(self) -> int:
        return self.kube.count("get", LEASES.path(NS, LEASE_NAME))

    def endings(self, job: str) -> list[str]:
        ended = [self.read_task(f"{job}-{i}").status.history for i in (0, 1)]
        return [h[-1].reason for h in ended if h]

    def one_pass(self) -> dict[str, float]:
        """Both jobs in one pass, as the run loop takes them; each job's wake."""
        assert self.reconciler._lapses is not None
        self.reconciler._lapses.new_pass()
        return {job: asyncio.run(self.reconciler.reconcile((NS, job))) for job in ("a", "b")}


def same(world: Lagging) -> None:
    """The provider is gone: its Lease was last renewed when the operator saw it."""


def renewed(world: Lagging) -> None:
    world.kube.put(LEASES.path(NS), presence_lease(renew="2026-01-01T12:00:06Z"))


def restarted(world: Lagging) -> None:
    """A new process under the same name: it keeps none of the old one's leases."""
    world.kube.put(LEASES.path(NS), presence_lease("i2", renew="2026-01-01T12:00:06Z"))


def retracted(world: Lagging) -> None:
    del world.kube.objects[LEASES.path(NS, LEASE_NAME)]


def unreadable(world: Lagging) -> None:
    world.kube.fail(on("get", LEASES.path(NS)), UNAVAILABLE, times=None)


# What the API server holds when the operator's cached view says the presence lapsed;
# how the four leases end (per job); whether the jobs look again within the retry wait.
CASES = {
    "the same record: all end as ProviderLost": (same, ["ProviderLost"] * 2, False),
    "renewed: all kept": (renewed, [], False),
    "a new instance: each ends by its own renewal": (restarted, ["LeaseExpired"] * 2, False),
    "deleted: each ends by its own renewal": (retracted, ["LeaseExpired"] * 2, False),
    "unreadable: all kept, looked at again soon": (unreadable, [], True),
}


@pytest.mark.parametrize(("server", "ended", "retry"), CASES.values(), ids=CASES.keys())
def test_a_lapse_is_read_back_once_per_holder_per_pass(
    server: Any, ended: list[str], retry: bool
) -> None:
    world = Lagging()
    server(world)
    world.later(7)  # the Lease (5 s) plus grace (1 s), as the operator last saw it

    wakes = world.one_pass()

    assert world.lease_reads() == 1  # four leases, two jobs, one holder: one read
    assert world.endings("a") == ended
    assert world.endings("b") == ended
    if retry:
        assert all(wake <= RETRY_AFTER_ERROR for wake in wakes.values())


def test_a_renewal_read_back_counts_like_one_the_watch_brought() -> None:
    world = Lagging()
    renewed(world)
    world.later(7)
    world.one_pass()
    world.later(5)  # within the renewal read back at 7 (5 s + 1 s grace): still kept
    world.one_pass()
    assert world.endings("a") == []
    world.later(2)  # past it, with nothing renewed since: the next pass reads again
    world.one_pass()
    assert world.lease_reads() == 2
    assert world.endings("a") == ["ProviderLost"] * 2
