"""Which capabilities live providers serve, from their presence Leases.

A provider renews its `taskmill-provider-<identity>` Lease every few seconds. The
operator watches only Leases labelled `taskmill.io/provider=true` and judges liveness
on its own observer clock: a provider is live while its Lease last changed less than
leaseDurationSeconds + grace ago, whatever the timestamps inside say.

The same renewals keep the provider's task leases alive: a task lease bound to the
presence Lease's instance (status.lease.presenceInstance) counts as renewed whenever
that Lease is, so a holder renews one Lease, not each of its tasks. A lease lives
while either its own renewTime or its holder's presence is fresh; when the presence
Lease lapses, every lease of that holder ends at once (planning.PROVIDER_LOST).

The watch may lag, so a lapse seen here is checked before it ends anything: LapseCheck
reads the holder's Lease back from the API server, once per holder per pass.
"""

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from taskmill.operator.observer import ObserverClock, Sight, stale_at
from taskmill.operator.store import TaskRow
from taskmill.operator.taskwrites import TRANSIENT
from taskmill.operator.watching import reflector

from taskmill.api.meta import LABEL_PROVIDER, PROVIDER_LEASE_PREFIX
from taskmill.api.presence import Provider, provider_from_lease
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.api import ListWatch
from taskmill.kube.observer import Observer
from taskmill.kube.paths import LEASES
from taskmill.kube.reflector import Reflector

log = logging.getLogger(__name__)

ProviderKey = tuple[str, str]


class ProviderPresence:
    """Live providers by observer clock. Pure: the caller passes its monotonic `now`."""

    def __init__(self, grace_seconds: float, sight: Sight | None = None) -> None:
        self._grace = grace_seconds
        # A lapse ends the provider's task leases at once, so it is judged like their
        # expiry: never across a break in the operator's sight.
        self._sight = sight
        self._providers: dict[ProviderKey, Provider] = {}
        self._clock: ObserverClock[ProviderKey] = ObserverClock()
        # Deleted presence Leases, with when they were last renewed, until they would
        # have lapsed: a lease bound to one may not end earlier than it would have had
        # the Lease stayed (a provider re-creates a deleted Lease under the same instance).
        self._deleted: dict[ProviderKey, tuple[Provider, float]] = {}

    def put(self, body: dict[str, Any], now: float) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        spec = body.get("spec") or {}
        self._providers[key] = provider_from_lease(body)
        self._clock.observe(key, (spec.get("holderIdentity"), spec.get("renewTime")), now)
        self._deleted.pop(key, None)
        if self._deleted:
            self._deleted = {
                k: (p, seen)
                for k, (p, seen) in self._deleted.items()
                if now < stale_at(seen, p.duration_seconds, self._grace)
            }

    def delete(self, body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        provider = self._providers.pop(key, None)
        seen = self._clock.seen_at(key)
        if provider is not None and seen is not None:
            self._deleted[key] = (provider, seen)
        self._clock.forget(key)

    def lease_seen(self, namespace: str, row: TaskRow, own: float | None) -> float | None:
        """When a held task's lease last counted as renewed, on the observer clock: its
        own last change (`own`), or the last renewal of the presence Lease it is bound
        to, whichever is later; None while the operator cannot judge (`own` is None).

        Only a presence Lease of the same holder *and* instance counts: a provider
        restarted under the same name is a new instance and keeps nothing of the old
        one's leases alive. The presence renewal is shifted by the difference of the
        two durations, so the lease ends when that renewal lapses."""
        if own is None or not row.presence_instance:
            return own
        key = (namespace, PROVIDER_LEASE_PREFIX + row.holder)
        provider, seen = self._providers.get(key), self._clock.seen_at(key)
        if provider is None or seen is None:
            provider, seen = self._deleted.get(key, (None, 0.0))
        if provider is None or provider.instance != row.presence_instance:
            return own
        return max(own, seen + provider.duration_seconds - row.lease_seconds)

    def _stale_at(self, key: ProviderKey, provider: Provider) -> float:
        seen = self._clock.seen_at(key)
        assert seen is not None  # every stored provider has been observed
        return stale_at(seen, provider.duration_seconds, self._grace)

    def live_capabilities(self, now: float) -> frozenset[str]:
        live: set[str] = set()
        for key, provider in self._providers.items():
            if now < self._stale_at(key, provider):
                live |= provider.capabilities
        return frozenset(live)

    def capacity(self, now: float) -> tuple[dict[str, int], dict[str, int]]:
        """Live providers and their free slots, by capability. A provider serving two
        capabilities counts under each: its slots are free for either."""
        providers: dict[str, int] = {}
        free: dict[str, int] = {}
        for key, provider in self._providers.items():
            if now >= self._stale_at(key, provider):
                continue
            for capability in provider.capabilities:
                providers[capability] = providers.get(capability, 0) + 1
                free[capability] = free.get(capability, 0) + max(0, provider.slots - provider.busy)
        return providers, free

    def providers(self, namespace: str, now: float) -> tuple[list[Provider], list[Provider]]:
        """The namespace's providers: (live, lapsed)."""
        live: list[Provider] = []
        lapsed: list[Provider] = []
        for key, provider in self._providers.items():
            if key[0] == namespace:
                (live if now < self._stale_at(key, provider) else lapsed).append(provider)
        return live, lapsed

    def lost(self, namespace: str, identity: str, now: float) -> bool:
        """Whether this provider's presence Lease lapsed, judged within unbroken sight.
        A provider without one (it never announced, or retracted it) is not lost."""
        key = (namespace, PROVIDER_LEASE_PREFIX + identity)
        provider = self._providers.get(key)
        if provider is None:
            return False
        since = self._sight.since() if self._sight is not None else -math.inf
        if since is None:
            return False
        seen = self._clock.seen_at(key)
        assert seen is not None  # every stored provider has been observed
        return now >= stale_at(max(seen, since), provider.duration_seconds, self._grace)

    def lost_providers(self, now: float) -> frozenset[ProviderKey]:
        return frozenset(
            (key[0], p.identity)
            for key, p in self._providers.items()
            if self.lost(key[0], p.identity, now)
        )

    def takes_nominees(self, namespace: str, identity: str, now: float) -> bool:
        """Whether a provider may still take the Tasks nominated to it: its presence
        Lease is there, has not lapsed (judged as `lost` does), and is not draining."""
        provider = self._providers.get((namespace, PROVIDER_LEASE_PREFIX + identity))
        return (
            provider is not None and not provider.drain and not self.lost(namespace, identity, now)
        )

    def nominee_takers(self, now: float) -> frozenset[ProviderKey]:
        """(namespace, identity) of every provider that `takes_nominees`."""
        return frozenset(
            (key[0], p.identity)
            for key, p in self._providers.items()
            if self.takes_nominees(key[0], p.identity, now)
        )

    def next_expiry(self, now: float) -> float | None:
        """The next observer time a live provider turns stale, if it does not renew."""
        ahead = [self._stale_at(k, p) for k, p in self._providers.items()]
        return min((t for t in ahead if t > now), default=None)


class LapseCheck:
    """Reads a holder's presence Lease back before its leases end as lapsed.

    The lapse is judged from the watch, and a watch can lag: a renewal it has not yet
    delivered would otherwise let the operator end leases whose holder still runs them
    (and a second holder claim the tasks). The Lease as read now goes into the cached
    view, so the plan made again from it decides: a renewal, or a new instance, keeps
    the leases (a renewal restarts the observer clock); the same record still lapsed,
    or no Lease at all, ends them. One read per holder per pass, however many of its
    tasks end."""

    def __init__(
        self, kube: KubeApi, presence: ProviderPresence, monotonic: Callable[[], float]
    ) -> None:
        self._kube = kube
        self._presence = presence
        self._mono = monotonic
        self._read: set[ProviderKey] = set()  # read back this pass
        self._unread: set[ProviderKey] = set()  # could not be read this pass

    def new_pass(self) -> None:
        self._read.clear()
        self._unread.clear()

    async def reread(self, namespace: str, holders: Iterable[str]) -> bool:
        """Read back the presence Leases of `holders` not yet read this pass; whether
        any was read (then the plan is made again from the view they updated)."""
        fresh = {
            key
            for key in ((namespace, h) for h in holders)
            if key not in self._read and key not in self._unread
        }
        for key in sorted(fresh):
            await self._reread(key)
        return bool(fresh)

    def unread(self, namespace: str) -> frozenset[str]:
        """Holders of the namespace whose Lease could not be read this pass: their
        leases are kept until it can be."""
        return frozenset(h for ns, h in self._unread if ns == namespace)

    async def _reread(self, key: ProviderKey) -> None:
        namespace, holder = key
        name = PROVIDER_LEASE_PREFIX + holder
        try:
            body = await self._kube.get(LEASES.path(namespace, name))
        except ApiError as e:
            if e.status != 404:
                return self._failed(key, e)
            self._presence.delete({"metadata": {"namespace": namespace, "name": name}})
        except TRANSIENT as e:
            return self._failed(key, e)
        else:
            self._presence.put(body, self._mono())
        self._read.add(key)
        return None

    def _failed(self, key: ProviderKey, error: BaseException) -> None:
        log.warning(
            "could not read a lapsed presence Lease back; its holder's leases are kept",
            extra={"provider": key, "error": str(error)},
        )
        self._unread.add(key)


def presence_reflector(
    kube: ListWatch,
    namespace: str | None,
    presence: ProviderPresence,
    monotonic: Callable[[], float],
    on_change: Callable[[], None],
    observer: Observer | None = None,
    on_sync: Callable[[bool], None] | None = None,
) -> Reflector:
    """Keeps `presence` current from the provider Leases, and only those. `on_sync`
    hears whether the watch is current: task leases live by these renewals, so the
    operator must not judge expiry while it cannot see them."""

    def put(body: dict[str, Any]) -> None:
        presence.put(body, monotonic())
        on_change()

    def delete(body: dict[str, Any]) -> None:
        presence.delete(body)
        on_change()

    return reflector(
        kube,
        LEASES.path(namespace),
        on_object=put,
        on_delete=delete,
        on_synced=on_change,  # an empty list is news too: no provider serves anything
        on_sync=on_sync,
        observer=observer,
        labelSelector=f"{LABEL_PROVIDER}=true",
    )
