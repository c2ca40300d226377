"""The provider agent's lifecycle: presence, the two watches, claiming, shutdown.

Everything is driven by watch events and one heartbeat loop; an idle provider sends
nothing but its open watches and its presence renewals. The parts:

    Claimer    picks Pending candidates and compare-and-swaps their leases
    Stealing   (--pending-watch nominated) watches others' nominees while hungry
    Presence   the presence Lease: announces the provider; its renewals keep the
               leases bound to it (all of them, unless a task allows a shorter lease)
    Keeper     the held leases: their work, the held-task watch, the final writes
    Heartbeat  (the keeper's) renews unbound leases, reports progress, stops work
               past its own deadline
    RunFirst   runs tasks of spec.claim Optimistic before claiming them, then claims
               and reports each in one compare-and-swap

Work is run by an Executor (a command per task, or SDK handlers); the parts decide
every write around it.
"""

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from taskmill.provider.backoff import sleep_unless
from taskmill.provider.candidates import ALL, MINE, NOBODYS, OTHERS, CandidateSet, Classes
from taskmill.provider.claimer import Claimer, Pause
from taskmill.provider.clock import Clock
from taskmill.provider.config import PendingWatch, ProviderConfig
from taskmill.provider.held import StopReason
from taskmill.provider.keeper import Executor, Keeper
from taskmill.provider.metrics import ProviderMetrics
from taskmill.provider.presence import Presence
from taskmill.provider.runfirst import RunFirst
from taskmill.provider.stealing import Stealing
from taskmill.provider.watch import Selector, list_watch

from taskmill.api.meta import LABEL_CAPABILITY, LABEL_NOMINEE
from taskmill.kube import KubeApi
from taskmill.kube.paths import TASKS

log = logging.getLogger(__name__)

# At shutdown, how long stopped work may keep retrying its final write.
REPORT_SECONDS = 10.0


def pending_selector(config: ProviderConfig, covers: Classes = ALL) -> Selector:
    """Leasable tasks of the served capabilities, nominated as `covers` says (ALL, or
    one of MINE, NOBODYS and OTHERS): the only tasks that wake a provider."""
    labels = [f"{LABEL_CAPABILITY} in ({','.join(config.capabilities)})"]
    if covers != ALL:
        (whose,) = covers
        labels += {
            MINE: [f"{LABEL_NOMINEE}={config.identity}"],
            NOBODYS: [f"!{LABEL_NOMINEE}"],
            OTHERS: [LABEL_NOMINEE, f"{LABEL_NOMINEE}!={config.identity}"],
        }[whose]
    return Selector(
        TASKS.path(config.namespace),
        label_selector=",".join(labels),
        field_selector="status.phase=Pending",
    )


def pending_watches(config: ProviderConfig) -> dict[str, Classes]:
    """The Pending watches a provider keeps open, by name: one on every Pending Task, or
    one on its own nominees and one on nobody's (others' are watched when it is
    hungry: taskmill.provider.stealing)."""
    if not config.watches_nominees:
        return {"pending": ALL}
    return {"nominated pending": frozenset({MINE}), "unnominated pending": frozenset({NOBODYS})}


def held_selector(config: ProviderConfig) -> Selector:
    """Tasks leased to this provider, so spec.cancel and deletion are seen at once."""
    return Selector(
        TASKS.path(config.namespace), field_selector=f"status.lease.holder={config.identity}"
    )


class Agent:
    def __init__(
        self,
        kube: KubeApi,
        config: ProviderConfig,
        executor: Executor,
        *,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        pause: Pause = sleep_unless,
        metrics: ProviderMetrics | None = None,
    ) -> None:
        self._kube = kube
        self._config = config
        self._rng = rng or random.Random()
        self._clock = clock or Clock()
        self._candidates = CandidateSet(config.capabilities, config.identity, self._clock.mono)
        self._presence = Presence(
            kube,
            config,
            self._clock.wall,
            mono=self._clock.mono,
            busy=lambda: self._keeper.load,
            drain=self._drain_requested,
        )
        self._keeper = Keeper(
            kube,
            config,
            executor,
            self._clock,
            self._rng,
            on_freed=lambda: self._claimer.wake(),
            metrics=metrics,
            presence=self._presence.renewals,
        )
        self._run_first = RunFirst(
            kube,
            config,
            executor,
            self._keeper,
            self._clock,
            self._rng,
            on_freed=lambda: self._claimer.wake(),
            metrics=metrics,
            restore=self._candidates.restore,
        )
        self._stealing: Stealing | None = None
        if config.watches_nominees:
            self._stealing = Stealing(
                lambda: self._watch_pending("others' nominees", frozenset({OTHERS})),
                self._candidates,
                config.concurrency,
                self._clock.mono,
            )
        self._claimer = Claimer(
            kube,
            config,
            self._keeper,
            self._candidates,
            self._clock,
            self._rng,
            pause,
            presence=self._presence.renewals,
            run_first=self._run_first,
            hunger=None if self._stealing is None else self._stealing.hunger,
        )
        self._metrics = metrics
        # Readiness: announced, and the held and pending watches current.
        self._synced = {name: False for name in pending_watches(config)} | {"held": False}
        self._announced = False
        if metrics is not None:
            metrics.live.claims = lambda: (self._claimer.won, self._claimer.lost)
            metrics.live.busy = self._keeper.busy_by_capability

    async def run(self, shutdown: asyncio.Event) -> None:
        """Serve until `shutdown` is set, then hand back what is still running."""
        presence = self._presence
        await presence.announce()
        self._announced = True
        log.info(
            "provider %s (instance %s) serving %s in %s (concurrency %d)",
            self._config.identity,
            presence.instance,
            ",".join(self._config.capabilities),
            self._config.namespace,
            self._config.concurrency,
        )
        if (
            self._config.pending_watch == PendingWatch.NOMINATED
            and not self._config.watches_nominees
        ):
            log.warning(
                "identity %r is not a label value (at most 63 letters, digits, '-', '_', "
                "'.'), so the operator cannot nominate it: watching every Pending Task",
                self._config.identity,
            )
        background = [
            asyncio.create_task(presence.keep(), name="presence"),
            asyncio.create_task(self._watch_held(), name="held-watch"),
            asyncio.create_task(self._keeper.heartbeat.run(), name="heartbeat"),
        ]
        watches = [
            asyncio.create_task(self._watch_pending(name, covers), name=f"{name} watch")
            for name, covers in pending_watches(self._config).items()
        ]
        claimer = asyncio.create_task(self._claimer.run(), name="claimer")
        stop = asyncio.create_task(shutdown.wait())
        try:
            done, _ = await asyncio.wait(
                {stop, claimer, *watches, *background},
                return_when=asyncio.FIRST_COMPLETED,
            )
            crashed = [t for t in done if t is not stop]
            for task in crashed:
                log.error("%s stopped unexpectedly; shutting down", task.get_name())
            log.info("shutting down: no new claims")
            self._claimer.stop()
            await asyncio.wait({claimer})
            for watch in watches:
                watch.cancel()
            if self._stealing is not None:
                self._stealing.close()  # again below, if this run was cancelled first
            await self._drain()
        finally:
            # The claimer is done by now unless this run itself was cancelled.
            for task in [stop, claimer, *watches, *background]:
                task.cancel()
            if self._stealing is not None:
                self._stealing.close()
            await asyncio.gather(stop, claimer, *watches, *background, return_exceptions=True)
            await presence.retract()
            log.info("claims won %d, lost %d", self._claimer.won, self._claimer.lost)
        for task in crashed:
            task.result()  # re-raise what stopped the provider

    async def _drain(self) -> None:
        """Let running work finish within the grace period; release the rest to Pending.

        Stopped work gets its kill grace and some time to report; final writes still
        failing after that (the API server unreachable) are given up.
        """
        works, first = self._keeper.works, self._run_first.works
        if works or first:
            running = len(works) + len(first)
            log.info("waiting up to %.0fs for %d task(s)", self._config.grace_seconds, running)
            await asyncio.gather(
                works.wait(self._config.grace_seconds), first.wait(self._config.grace_seconds)
            )
        self._keeper.stop_all(StopReason.SHUTDOWN)
        self._run_first.stop_all()
        report = self._config.kill_grace_seconds + REPORT_SECONDS
        await asyncio.gather(works.wait(report), first.wait(report))
        self._keeper.abandon_writes()
        self._run_first.abandon_writes()
        await asyncio.gather(works.settle(), first.settle())
        await self._keeper.chores.settle()

    def _drain_requested(self, requested: bool) -> bool:
        """The operator wants this provider gone (scale-down) or back: stop or resume
        claiming. Drained once no claim is in flight and no lease is held."""
        self._claimer.hold(requested)
        return requested and self._keeper.idle

    def problems(self) -> list[str]:
        """Why this provider is not ready, if it is not (served at /readyz)."""
        found = [] if self._announced else ["presence Lease not announced"]
        found += [f"{name} watch not synced" for name, ok in self._synced.items() if not ok]
        return found

    def _sync(self, name: str) -> Callable[[bool], None]:
        def record(synced: bool) -> None:
            self._synced[name] = synced

        return record

    async def _watch_pending(self, name: str, covers: Classes) -> None:
        await list_watch(
            self._kube,
            pending_selector(self._config, covers),
            PendingTasks(self._candidates, self._run_first, covers),
            on_change=self._claimer.wake,
            rng=self._rng,
            on_sync=self._sync(name) if name in self._synced else None,
            observer=None if self._metrics is None else self._metrics.client,
        )

    async def _watch_held(self) -> None:
        await list_watch(
            self._kube,
            held_selector(self._config),
            self._keeper,
            on_change=_nothing,
            rng=self._rng,
            on_sync=self._sync("held"),
            observer=None if self._metrics is None else self._metrics.client,
        )


class PendingTasks:
    """The pending watch's cache: the candidates, and the run-first runs, which stop
    once their task leaves Pending (their one write could no longer land)."""

    def __init__(
        self, candidates: CandidateSet, run_first: RunFirst, covers: Classes = ALL
    ) -> None:
        self._candidates = candidates
        self._run_first = run_first
        self._covers = covers  # the candidates this watch selects

    def replace(self, objects: list[dict[str, Any]]) -> None:
        self._candidates.replace(objects, self._covers)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self._candidates.apply(event_type, obj, self._covers)
        if event_type == "DELETED":
            self._run_first.left_pending(obj.get("metadata", {}).get("name", ""))


def _nothing() -> None:
    pass
