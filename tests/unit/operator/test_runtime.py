"""/readyz: what makes the operator ready."""

from typing import Any

import pytest
from taskmill.operator.election import LeaderElector
from taskmill.operator.observer import Sight
from taskmill.operator.runtime import Health

from taskmill.kube.reflector import Reflector
from tests.fakes.kube import FakeKube


class Nothing:
    def relisting(self) -> None: ...
    def listed(self, objects: list[dict[str, Any]]) -> None: ...
    def synced(self) -> None: ...
    def changed(self, event_type: str, obj: dict[str, Any]) -> None: ...


@pytest.mark.parametrize(
    ("leading", "synced", "heard_ago", "problems"),
    [
        (False, [False, False], 100.0, []),  # a standby is ready, whatever it sees
        (True, [True, True], 0.5, []),
        (True, [True, False], 0.5, ["watch of /b not synced"]),  # failed, or silent
        (True, [True, True], 5.0, ["the API server has not answered"]),
    ],
)
def test_readiness(
    leading: bool, synced: list[bool], heard_ago: float, problems: list[str]
) -> None:
    now = [100.0]
    sight = Sight(tolerance=3.0, monotonic=lambda: now[0])
    sight.heard()
    now[0] += heard_ago
    kube = FakeKube()
    elector = LeaderElector(kube, "ns", "me")
    elector.leading = leading
    watches = [Reflector(kube, path, Nothing()) for path in ("/a", "/b")]
    for watch, is_synced in zip(watches, synced, strict=True):
        watch.synced = is_synced
    assert Health(sight, elector, watches).problems() == problems
    assert kube.requests == []  # readiness reads flags, never the API server
