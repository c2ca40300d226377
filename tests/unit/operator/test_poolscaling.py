"""Desired replicas from the backlog: recommendation, stabilisation windows, step limit."""

import pytest
from taskmill.operator.poolscaling import Recommendations, held_until, recommended, stabilised

from taskmill.api.providerpool import ProviderPoolSpec, ScaleTargetRef, ScalingBehavior


def spec(
    *,
    concurrency: int = 2,
    min_r: int = 0,
    max_r: int = 10,
    up: int = 0,
    down: int = 60,
    step: int = 10,
) -> ProviderPoolSpec:
    return ProviderPoolSpec(
        capabilities=["x"],
        concurrency=concurrency,
        min_replicas=min_r,
        max_replicas=max_r,
        scale_target_ref=ScaleTargetRef(name="providers"),
        behavior=ScalingBehavior(
            scale_up_stabilization_seconds=up, scale_down_stabilization_seconds=down, max_step=step
        ),
    )


@pytest.mark.parametrize(
    ("backlog", "kwargs", "expected"),
    [
        (0, {}, 0),  # no work: scale to zero
        (0, {"min_r": 2}, 2),
        (1, {}, 1),  # any work: at least one
        (3, {}, 2),  # 3 tasks over 2 slots
        (4, {}, 2),
        (100, {}, 10),  # clamped to max
        (1, {"min_r": 3}, 3),
    ],
)
def test_recommended(backlog: int, kwargs: dict[str, int], expected: int) -> None:
    assert recommended(backlog, spec(**kwargs)) == expected


def history(*points: tuple[float, int]) -> Recommendations:
    recent = Recommendations()
    for at, replicas in points:
        recent.add(at, replicas, keep_seconds=3600)
    return recent


@pytest.mark.parametrize(
    ("current", "points", "kwargs", "expected"),
    [
        (0, [(100, 3)], {}, 3),  # up at once with no up-window
        (0, [(90, 0), (100, 3)], {"up": 30}, 1),  # window holds back, but 0 -> 1 is immediate
        (1, [(90, 1), (100, 3)], {"up": 30}, 1),  # held by the lowest in the window
        (1, [(60, 1), (100, 3)], {"up": 30}, 3),  # the low one left the window
        (5, [(50, 5), (100, 0)], {"down": 60}, 5),  # a lull shorter than the window
        (5, [(30, 5), (100, 0)], {"down": 60}, 0),  # the lull lasted the window
        (5, [(100, 0)], {"down": 0}, 0),
        (0, [(100, 10)], {"step": 4}, 4),  # step limit
        (10, [(100, 0)], {"down": 0, "step": 4}, 6),
        (12, [(100, 12)], {"max_r": 8}, 8),  # max lowered below the current size
    ],
)
def test_stabilised(
    current: int, points: list[tuple[float, int]], kwargs: dict[str, int], expected: int
) -> None:
    assert stabilised(current, history(*points), 100, spec(**kwargs)) == expected


def test_held_until_names_when_the_window_moves() -> None:
    recent = history((50, 5), (80, 0), (100, 0))
    assert held_until(recent, 100, 5, spec(down=60)) == 110  # (50, 5) leaves at 110
    assert held_until(recent, 100, 0, spec(down=60)) is None  # nothing held back
