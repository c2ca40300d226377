"""Whether a BatchJob's predecessors (`spec.dependsOn`) let it run.

A predecessor that does not exist yet is waited for, not an error: jobs of a
pipeline may be applied in any order. One that ended Failed or Cancelled can never
succeed, so the dependent job fails at once instead of waiting forever.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from taskmill.api.common import JobPhase


class DependencyStatus(StrEnum):
    NONE = "None"  # no dependsOn
    PENDING = "Pending"  # some predecessor missing or unfinished
    MET = "Met"  # every predecessor succeeded
    FAILED = "Failed"  # some predecessor failed or was cancelled


@dataclass(frozen=True)
class DependencyState:
    status: DependencyStatus = DependencyStatus.NONE
    message: str = ""  # names the predecessor that decided the status

    @property
    def met(self) -> bool:
        """True when nothing holds the job back."""
        return self.status in (DependencyStatus.NONE, DependencyStatus.MET)


def dependency_state(
    depends_on: Sequence[str] | None, predecessors: Mapping[str, JobPhase | None]
) -> DependencyState:
    """The job's dependency state; `predecessors` maps a name to its phase, None if absent.

    A failed predecessor decides over unfinished ones, and the first in `depends_on`
    order is the one named.
    """
    if not depends_on:
        return DependencyState()
    phases = [(name, predecessors.get(name)) for name in depends_on]
    for name, phase in phases:
        if phase in (JobPhase.FAILED, JobPhase.CANCELLED):
            return DependencyState(
                DependencyStatus.FAILED, f"predecessor BatchJob {name} ended {phase}"
            )
    for name, phase in phases:
        if phase is None:
            return DependencyState(
                DependencyStatus.PENDING, f"waiting for predecessor BatchJob {name} to exist"
            )
        if phase != JobPhase.SUCCEEDED:
            return DependencyState(
                DependencyStatus.PENDING,
                f"waiting for predecessor BatchJob {name} to succeed (now {phase})",
            )
    return DependencyState(DependencyStatus.MET, "all predecessors succeeded")


def find_cycle(graph: Mapping[str, Sequence[str]], start: str) -> list[str] | None:
    """A dependency cycle reachable from `start`, as a path that ends where it began.

    `graph` maps a job to the jobs it depends on; jobs missing from it have no
    predecessors. Jobs on such a cycle, and jobs that depend on one, never become eligible.
    """
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()
    # Iterative depth-first search: a pipeline may be longer than Python's recursion limit.
    stack: list[tuple[str, int]] = [(start, 0)]
    while stack:
        node, next_edge = stack.pop()
        if next_edge == 0:
            path.append(node)
            on_path.add(node)
        edges = graph.get(node, ())
        if next_edge < len(edges):
            stack.append((node, next_edge + 1))
            successor = edges[next_edge]
            if successor in on_path:
                return [*path[path.index(successor) :], successor]
            if successor not in done:
                stack.append((successor, 0))
            continue
        path.pop()
        on_path.discard(node)
        done.add(node)
    return None
