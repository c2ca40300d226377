"""Predecessor states and dependency cycles."""

from collections.abc import Mapping, Sequence

import pytest
from taskmill.operator.dependencies import (
    DependencyState,
    DependencyStatus,
    dependency_state,
    find_cycle,
)

from taskmill.api import JobPhase

S, F, C, R, P = (
    JobPhase.SUCCEEDED,
    JobPhase.FAILED,
    JobPhase.CANCELLED,
    JobPhase.RUNNING,
    JobPhase.PENDING,
)


@pytest.mark.parametrize(
    ("depends_on", "predecessors", "status", "named", "met"),
    [
        (None, {}, DependencyStatus.NONE, "", True),
        ([], {}, DependencyStatus.NONE, "", True),
        (["a"], {"a": S}, DependencyStatus.MET, "", True),
        (["a", "b"], {"a": S, "b": S}, DependencyStatus.MET, "", True),
        (["a"], {}, DependencyStatus.PENDING, "a to exist", False),
        (["a"], {"a": None}, DependencyStatus.PENDING, "a to exist", False),
        (
            ["a", "b"],
            {"a": S, "b": R},
            DependencyStatus.PENDING,
            "b to succeed (now Running)",
            False,
        ),
        (["a", "b"], {"a": P, "b": R}, DependencyStatus.PENDING, "a to succeed", False),
        (["a", "b"], {"a": R, "b": F}, DependencyStatus.FAILED, "b ended Failed", False),
        (["a", "b"], {"b": C}, DependencyStatus.FAILED, "b ended Cancelled", False),
        (["a", "b"], {"a": F, "b": C}, DependencyStatus.FAILED, "a ended Failed", False),
    ],
)
def test_dependency_state(
    depends_on: list[str] | None,
    predecessors: Mapping[str, JobPhase | None],
    status: DependencyStatus,
    named: str,
    met: bool,
) -> None:
    state = dependency_state(depends_on, predecessors)
    assert state.status == status
    assert named in state.message
    assert state.met == met


def test_the_default_state_has_no_dependencies() -> None:
    assert DependencyState() == dependency_state(None, {})


@pytest.mark.parametrize(
    ("graph", "start", "cycle"),
    [
        ({}, "a", None),
        ({"a": ["b"], "b": ["c"]}, "a", None),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, "a", None),  # diamond
        ({"a": ["a"]}, "a", ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, "a", ["a", "b", "a"]),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, "b", ["b", "c", "a", "b"]),
        ({"a": ["b"], "b": ["c"], "c": ["b"]}, "a", ["b", "c", "b"]),  # reachable, not through a
        ({"a": ["x", "b"], "x": [], "b": ["a"]}, "a", ["a", "b", "a"]),  # after a dead end
        ({"a": ["b"], "b": [], "c": ["c"]}, "a", None),  # unreachable cycle
    ],
)
def test_find_cycle(
    graph: Mapping[str, Sequence[str]], start: str, cycle: list[str] | None
) -> None:
    assert find_cycle(graph, start) == cycle


def test_find_cycle_walks_pipelines_deeper_than_the_recursion_limit() -> None:
    n = 50_000
    chain = {f"j{i}": [f"j{i + 1}"] for i in range(n)}
    assert find_cycle(chain, "j0") is None
    chain[f"j{n}"] = ["j0"]
    cycle = find_cycle(chain, "j0")
    assert cycle is not None
    assert (len(cycle), cycle[0], cycle[-1]) == (n + 2, "j0", "j0")
