"""How many providers a pool wants: pure functions of the backlog, the spec and the clock.

The raw recommendation is the backlog over the slots per provider, clamped to the
pool's bounds: zero with no work (unless minReplicas says otherwise), at least one as
soon as any work appears. Stabilisation follows the HPA's rule: a scale-up goes only to
the lowest recommendation of its window, a scale-down only to the highest of its
window, so neither flaps on a burst or a lull; then the step limit applies. Going from
zero to one is never held back: the first task must not wait for a window.
"""

import math
from collections import deque
from dataclasses import dataclass

from taskmill.api.providerpool import ProviderPoolSpec


def recommended(backlog: int, spec: ProviderPoolSpec) -> int:
    """Providers the backlog calls for, within [minReplicas, maxReplicas]."""
    if backlog <= 0:
        return spec.min_replicas
    wanted = math.ceil(backlog / spec.concurrency)
    return max(spec.min_replicas, 1, min(wanted, spec.max_replicas))


@dataclass(frozen=True)
class Recommendation:
    at: float  # monotonic seconds
    replicas: int


class Recommendations:
    """A pool's recent recommendations, kept as long as the longer window needs them."""

    def __init__(self) -> None:
        self._seen: deque[Recommendation] = deque()

    def add(self, now: float, replicas: int, keep_seconds: float) -> None:
        self._seen.append(Recommendation(now, replicas))
        while self._seen and self._seen[0].at < now - keep_seconds:
            self._seen.popleft()

    def within(self, now: float, seconds: float) -> list[Recommendation]:
        return [r for r in self._seen if r.at >= now - seconds]

    @property
    def latest(self) -> int | None:
        return self._seen[-1].replicas if self._seen else None


def stabilised(current: int, recent: Recommendations, now: float, spec: ProviderPoolSpec) -> int:
    """The replicas to set now, given the current ones and the recent recommendations
    (the latest included)."""
    b = spec.behavior
    ups = recent.within(now, b.scale_up_stabilization_seconds)
    downs = recent.within(now, b.scale_down_stabilization_seconds)
    up = min((r.replicas for r in ups), default=current)
    down = max((r.replicas for r in downs), default=current)
    if current == 0 and (recent.latest or 0) > 0:
        up = max(up, 1)  # work appeared: one provider at once, whatever the window
    if up > current:
        target = up
    elif down < current:
        target = down
    else:
        return _clamped(current, spec)
    step = max(-b.max_step, min(b.max_step, target - current))
    return _clamped(current + step, spec)


def _clamped(replicas: int, spec: ProviderPoolSpec) -> int:
    return max(spec.min_replicas, min(spec.max_replicas, replicas))


def held_until(
    recent: Recommendations, now: float, current: int, spec: ProviderPoolSpec
) -> float | None:
    """When the window holding back the change the latest recommendation wants next
    moves (its oldest entry leaves it); None when no window holds anything back."""
    latest = recent.latest
    if latest is None or latest == current:
        return None
    b = spec.behavior
    up = latest > current
    window = b.scale_up_stabilization_seconds if up else b.scale_down_stabilization_seconds
    oldest = recent.within(now, window)
    return oldest[0].at + window if window and oldest else None
