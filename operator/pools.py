"""The pool controller: sizes each ProviderPool's target from the backlog.

One loop for all pools. Task and presence events only poke it; it then waits out its
interval and reconciles every pool once, from the store and presence the operator
already keeps. A pass costs per pool one GET of the target's /scale and, only while
scaling down, a list of its pods and the drain writes; never a request per Task.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import ValidationError
from taskmill.operator.conditions import set_condition
from taskmill.operator.events import NORMAL, Recorder, Regarding
from taskmill.operator.poolbacklog import backlog, holders, wanting
from taskmill.operator.poolscaling import Recommendations, held_until, recommended, stabilised
from taskmill.operator.pooltargets import TargetError, Targets
from taskmill.operator.presence import LapseCheck, ProviderPresence
from taskmill.operator.scaledown import (
    DELETION_COST_ANNOTATION,
    VICTIM_DELETION_COST,
    Member,
    ready_to_remove,
    victims,
)
from taskmill.operator.store import Store

from taskmill.api.common import ConditionStatus
from taskmill.api.meta import ANNOTATION_DRAIN, PROVIDER_LEASE_PREFIX
from taskmill.api.presence import Provider
from taskmill.api.providerpool import ProviderPool
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.paths import LEASES, PODS, PROVIDERPOOLS

log = logging.getLogger(__name__)

PoolKey = tuple[str, str]
READY = "Ready"
RESYNC_SECONDS = 30.0  # re-read targets that nothing pokes (someone else scaled them)
RETRY_SECONDS = 5.0
COALESCE_SECONDS = 0.05


@dataclass
class PoolState:
    """What the loop remembers of one pool between passes."""

    recent: Recommendations = field(default_factory=Recommendations)
    draining: dict[str, float] = field(default_factory=dict)  # identity -> since
    written: dict[str, Any] | None = None  # the status last written
    last_scale: tuple[datetime, str] | None = None  # when and why replicas last changed
    # Victims handed to the ReplicaSet: their drain stays until their pods are gone.
    removed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Observed:
    replicas: int
    desired: int
    backlog: int
    providers: list[Provider]


class PoolScaler:
    def __init__(
        self,
        kube: KubeApi,
        store: Store,
        presence: ProviderPresence,
        recorder: Recorder,
        *,
        interval_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        self._store = store
        self._presence = presence
        self._recorder = recorder
        self._interval = interval_seconds
        self._mono = monotonic
        self._wall = wall
        self._targets = Targets(kube)
        self._lapses = LapseCheck(kube, presence, monotonic)
        self._pools: dict[PoolKey, ProviderPool] = {}
        self._states: dict[PoolKey, PoolState] = {}
        self._due: dict[PoolKey, float] = {}
        self._wake = asyncio.Event()

    # Fed by the reflectors

    def poke(self) -> None:
        self._wake.set()

    def put(self, body: dict[str, Any]) -> None:
        try:
            pool = ProviderPool.model_validate(body)
        except ValidationError as e:
            log.warning("skipping malformed ProviderPool", extra={"error": str(e)})
            return
        self._pools[(pool.metadata.namespace, pool.metadata.name)] = pool
        self.poke()

    def delete(self, body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        self._pools.pop(key, None)
        self._states.pop(key, None)
        self._due.pop(key, None)

    # The loop

    async def run(self) -> None:
        last_pass = -math.inf
        while True:
            now = self._mono()
            # A provider that lapses sends no event: look again when the next one may.
            lapse = self._presence.next_expiry(now)
            due = [*self._due.values(), *([] if lapse is None else [lapse])]
            wait = min(due, default=now + RESYNC_SECONDS) - now
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            # At most one pass per interval; after a quiet spell, one at once (after a
            # moment for the rest of the burst to land), so the first task waits little.
            await asyncio.sleep(max(COALESCE_SECONDS, last_pass + self._interval - self._mono()))
            last_pass = self._mono()
            self._wake.clear()
            for key in list(self._pools):
                pool = self._pools.get(key)
                if pool is not None:
                    await self._pass(key, pool)

    async def _pass(self, key: PoolKey, pool: ProviderPool) -> None:
        state = self._states.setdefault(key, PoolState())
        now = self._mono()
        self._due[key] = now + RESYNC_SECONDS
        problem = self._overlap(key, pool)
        try:
            if problem is not None:
                raise TargetError("OverlappingPools", problem)
            target = await self._targets.resolve(pool.spec.scale_target_ref, key[0])
            scale = await self._kube.get(target.scale_path)
            observed = await self._scale(key, pool, state, target.scale_path, scale, now)
        except TargetError as e:
            await self._write_status(key, pool, state, None, e.reason, str(e))
            return
        except ApiError as e:
            if e.status != 404:
                log.warning("pool %s/%s: %s", *key, e)
                self._due[key] = now + RETRY_SECONDS
                return
            ref = pool.spec.scale_target_ref
            missing = f"{ref.kind} {ref.name} not found"
            await self._write_status(key, pool, state, None, "TargetNotFound", missing)
            return
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("pool %s/%s: %s", *key, e)
            self._due[key] = now + RETRY_SECONDS
            return
        await self._write_status(key, pool, state, observed, "Scaling", "")

    def _overlap(self, key: PoolKey, pool: ProviderPool) -> str | None:
        """A capability already served by an older pool of the namespace (by creation,
        then name) is that pool's: scaling two targets on one backlog would guess."""
        mine = set(pool.spec.capabilities)
        for other_key, other in self._pools.items():
            if other_key == key or other_key[0] != key[0]:
                continue
            shared = mine & set(other.spec.capabilities)
            if shared and _seniority(other) < _seniority(pool):
                return (
                    f"capabilities {sorted(shared)} already belong to ProviderPool "
                    f"{other_key[1]}; a capability belongs to one pool"
                )
        return None

    async def _scale(
        self,
        key: PoolKey,
        pool: ProviderPool,
        state: PoolState,
        scale_path: str,
        scale: dict[str, Any],
        now: float,
    ) -> Observed:
        namespace, spec = key[0], pool.spec
        replicas = int((scale.get("spec") or {}).get("replicas") or 0)
        wants = wanting(self._store, namespace)
        waiting = backlog(self._store, namespace, wants, spec.capabilities)
        windows = spec.behavior
        keep = max(windows.scale_up_stabilization_seconds, windows.scale_down_stabilization_seconds)
        state.recent.add(now, recommended(waiting, spec), keep)
        desired = stabilised(replicas, state.recent, now, spec)
        until = held_until(state.recent, now, replicas, spec)
        if until is not None:
            self._due[key] = min(self._due[key], until)
        live, lapsed = self._presence.providers(namespace, now)
        served = set(spec.capabilities)
        providers = [p for p in live if p.capabilities & served]
        lost = await self._confirmed_lost(
            namespace,
            [
                p.identity
                for p in lapsed
                if p.capabilities & served and self._presence.lost(namespace, p.identity, now)
            ],
        )
        if lost:
            await self._replace_lost(pool, _selector(scale), lost)
        now_replicas = replicas
        if desired > replicas:
            await self._undrain(namespace, state, providers)
            await self._set_replicas(key, pool, scale_path, replicas, desired, waiting)
            now_replicas = desired
        elif desired < replicas:
            selector = _selector(scale)
            going = await self._drain(key, pool, state, selector, replicas - desired, now)
            if going:
                now_replicas = replicas - len(going)
                await self._set_replicas(
                    key, pool, scale_path, replicas, now_replicas, waiting, going
                )
        else:
            await self._undrain(namespace, state, providers)
        return Observed(now_replicas, desired, waiting, providers)

    async def _set_replicas(
        self,
        key: PoolKey,
        pool: ProviderPool,
        scale_path: str,
        old: int,
        new: int,
        waiting: int,
        going: list[str] | None = None,
    ) -> None:
        await self._kube.merge_patch(scale_path, {"spec": {"replicas": new}})
        direction = "ScaledUp" if new > old else "ScaledDown"
        reason = (
            f"{direction} {pool.spec.scale_target_ref.kind} {pool.spec.scale_target_ref.name} "
            f"from {old} to {new} replicas: backlog {waiting} task(s), "
            f"{pool.spec.concurrency} slot(s) per provider"
        )
        if going:
            reason += f"; removing provider(s) {', '.join(sorted(going))}"
        self._states[key].last_scale = (self._wall(), reason)
        await self._recorder.post(_regarding(pool), direction, reason, type=NORMAL)

    async def _drain(
        self,
        key: PoolKey,
        pool: ProviderPool,
        state: PoolState,
        selector: str,
        count: int,
        now: float,
    ) -> list[str]:
        """Drain `count` providers; returns those that may be removed now."""
        namespace = key[0]
        if not selector:
            raise TargetError("TargetNotScalable", "the target's /scale reports no selector")
        pods = await self._pods(namespace, selector)
        live, _ = self._presence.providers(namespace, now)
        by_identity = {p.identity: p for p in live}
        held = holders(self._store, namespace)
        members = [
            Member(
                identity=name,
                held=held[name],
                provider=by_identity.get(name),
                draining_since=state.draining.get(name),
            )
            for name in pods
        ]
        chosen = victims(members, count)
        names = {m.identity for m in chosen}
        for name in list(state.draining):
            if name not in names:
                await self._release(namespace, name, state)
        for member in chosen:
            if member.draining_since is None:
                state.draining[member.identity] = now
                await self._mark(namespace, member.identity, drain=True)
        timeout = pool.spec.behavior.drain_timeout_seconds
        updated = [
            Member(m.identity, m.held, m.provider, state.draining[m.identity]) for m in chosen
        ]
        ready = [m.identity for m in updated if ready_to_remove(m, now, timeout)]
        if len(ready) < count:
            self._due[key] = min(self._due[key], now + max(1.0, self._interval))
        # Only the pods that may go now get the low deletion cost, and the target shrinks
        # by exactly as many: a victim still finishing a task keeps the default cost.
        for name in ready:
            await self._patch_ignoring_gone(PODS.path(namespace, name), _deletion_cost(True))
            state.draining.pop(name, None)  # going away with its pod
        state.removed |= set(ready)
        return ready

    async def _confirmed_lost(self, namespace: str, lapsed: list[str]) -> list[str]:
        """Those of `lapsed` still lapsed once their presence Leases are read back: the
        watch may lag a renewal, and deleting a live provider's pod would stop its work
        (taskmill.operator.presence.LapseCheck). A Lease that cannot be read, or is gone,
        replaces nothing this pass."""
        if not lapsed:
            return []
        self._lapses.new_pass()
        await self._lapses.reread(namespace, lapsed)
        unread, now = self._lapses.unread(namespace), self._mono()
        return [i for i in lapsed if i not in unread and self._presence.lost(namespace, i, now)]

    async def _replace_lost(self, pool: ProviderPool, selector: str, lost: list[str]) -> None:
        """Providers whose presence lapsed: a pod of theirs still there (a hung or killed
        process in a live container) is deleted so its controller starts a new one; their
        presence Lease goes once the reconciler has ended every task lease they held."""
        namespace = pool.metadata.namespace
        pods = await self._pods(namespace, selector) if selector else {}
        held = holders(self._store, namespace)
        for identity in lost:
            pod = pods.get(identity)
            if pod is not None:
                uid = pod["metadata"].get("uid", "")
                if await self._delete(PODS.path(namespace, identity), uid):
                    note = (
                        f"provider {identity} stopped renewing its presence Lease while its "
                        "pod remained; deleted the pod so that its controller replaces it"
                    )
                    await self._recorder.post(_regarding(pool), "ProviderLost", note)
            if not held[identity]:
                lease = LEASES.path(namespace, PROVIDER_LEASE_PREFIX + identity)
                if await self._delete(lease, ""):
                    log.info("collected the lapsed presence Lease of provider %s", identity)

    async def _pods(self, namespace: str, selector: str) -> dict[str, dict[str, Any]]:
        """The target's pods by name, except those already being deleted."""
        found = await self._kube.list_objects(PODS.path(namespace), labelSelector=selector)
        return {
            pod["metadata"]["name"]: pod
            for pod in found.get("items", [])
            if not pod["metadata"].get("deletionTimestamp")
        }

    async def _delete(self, path: str, uid: str) -> bool:
        """Delete (only the object with this uid, if given); False when it was gone."""
        try:
            await self._kube.delete(path, {"preconditions": {"uid": uid}} if uid else None)
        except ApiError as e:
            if e.status in (404, 409):
                return False
            raise
        return True

    async def _undrain(self, namespace: str, state: PoolState, providers: list[Provider]) -> None:
        """The pool needs its draining providers after all: let them claim again."""
        for name in list(state.draining):
            await self._release(namespace, name, state)
        state.removed &= {p.identity for p in providers}
        for p in providers:
            if p.drain and p.identity not in state.removed:  # asked by an earlier term
                await self._mark(namespace, p.identity, drain=False)

    async def _release(self, namespace: str, name: str, state: PoolState) -> None:
        state.draining.pop(name, None)
        await self._mark(namespace, name, drain=False)
        await self._patch_ignoring_gone(PODS.path(namespace, name), _deletion_cost(False))

    async def _mark(self, namespace: str, identity: str, *, drain: bool) -> None:
        """The drain signal on the provider's presence Lease, set or cleared."""
        body = {"metadata": {"annotations": {ANNOTATION_DRAIN: "true" if drain else None}}}
        path = LEASES.path(namespace, PROVIDER_LEASE_PREFIX + identity)
        await self._patch_ignoring_gone(path, body)

    async def _patch_ignoring_gone(self, path: str, body: dict[str, Any]) -> None:
        """A provider's Lease or pod may be gone already: nothing to mark then."""
        try:
            await self._kube.merge_patch(path, body)
        except ApiError as e:
            if e.status != 404:
                raise

    async def _write_status(
        self,
        key: PoolKey,
        pool: ProviderPool,
        state: PoolState,
        observed: Observed | None,
        reason: str,
        message: str,
    ) -> None:
        old = pool.status
        ready = observed is not None
        conditions = set_condition(
            old.conditions,
            READY,
            ConditionStatus.TRUE if ready else ConditionStatus.FALSE,
            reason,
            message or "the pool follows its backlog",
            pool.metadata.generation,
            self._wall(),
        )
        last = state.last_scale
        values: dict[str, Any] = {
            "observed_generation": pool.metadata.generation,
            "conditions": conditions,
            "draining": sorted(state.draining),
        }
        if observed is not None:
            slots = sum(p.slots for p in observed.providers)
            busy = sum(min(p.busy, p.slots) for p in observed.providers)
            values |= {
                "replicas": observed.replicas,
                "desired": observed.desired,
                "backlog": observed.backlog,
                "live_providers": len(observed.providers),
                "busy_slots": busy,
                "idle_slots": slots - busy,
            }
        if last is not None:
            values |= {"last_scale_time": last[0], "last_scale_reason": last[1][:1024]}
        status = old.model_copy(update=values).wire()
        if status == state.written or (state.written is None and status == old.wire()):
            return
        if not ready and (state.written or {}).get("conditions") != status["conditions"]:
            await self._recorder.post(_regarding(pool), reason, message)
        path = PROVIDERPOOLS.path(key[0], key[1], "status")
        try:
            await self._kube.merge_patch(path, {"status": status})
        except ApiError as e:
            if e.status != 404:
                raise
        state.written = status


def _deletion_cost(victim: bool) -> dict[str, Any]:
    cost = VICTIM_DELETION_COST if victim else None
    return {"metadata": {"annotations": {DELETION_COST_ANNOTATION: cost}}}


def _selector(scale: dict[str, Any]) -> str:
    """The label selector of the target's pods, as its /scale reports it."""
    return str((scale.get("status") or {}).get("selector") or "")


def _seniority(pool: ProviderPool) -> tuple[float, str]:
    created = pool.metadata.creation_timestamp
    return (created.timestamp() if created else math.inf, pool.metadata.name)


def _regarding(pool: ProviderPool) -> Regarding:
    meta = pool.metadata
    return Regarding("ProviderPool", meta.namespace, meta.name, meta.uid)
