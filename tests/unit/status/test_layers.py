"""Layering: own policies, then group policies by priority, then the cluster default."""

from dataclasses import replace

import pytest

from taskmill.api.statuspolicy import Subject, SubjectKind
from taskmill.status import CompiledPolicy, Viewer, layers_for

JOB, CRON = ("batch", "Job"), ("batch", "CronJob")
BUILTIN = CompiledPolicy("builtin", rules={JOB: (), CRON: ()})


def policy(name: str, *subjects: tuple[str, str], priority: int = 0) -> CompiledPolicy:
    parsed = []
    for kind, who in subjects:
        namespace, _, account = who.rpartition("/")
        if kind == "ServiceAccount":
            parsed.append(Subject(kind=SubjectKind(kind), name=account, namespace=namespace))
        else:
            parsed.append(Subject(kind=SubjectKind(kind), name=who))
    return CompiledPolicy(name, priority, tuple(parsed))


ALICE = policy("alice", ("User", "alice"))
ROBOT = policy("robot", ("ServiceAccount", "ci/robot"))
ML = policy("ml", ("Group", "ml"), priority=10)
DATA = policy("data", ("Group", "data"), priority=20)
OPS = policy("ops", ("Group", "ops"), ("User", "bob"))
DEFAULT = replace(policy("cluster-default"), rules={JOB: ()})
ALL = [DEFAULT, OPS, DATA, ML, ROBOT, ALICE]


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        (Viewer("alice", ("ml", "data")), ["alice", "data", "ml", "cluster-default", "builtin"]),
        (Viewer("carol", ("ml",)), ["ml", "cluster-default", "builtin"]),
        (Viewer("bob", ("ml",)), ["ops", "ml", "cluster-default", "builtin"]),  # user is own
        (Viewer("dave", ("ops",)), ["ops", "cluster-default", "builtin"]),
        (Viewer("system:serviceaccount:ci:robot", ()), ["robot", "cluster-default", "builtin"]),
        (Viewer("system:serviceaccount:other:robot", ()), ["cluster-default", "builtin"]),
        (Viewer("", ()), ["cluster-default", "builtin"]),
    ],
)
def test_layers_in_order(viewer: Viewer, expected: list[str]) -> None:
    assert [p.name for p in layers_for(viewer, ALL, BUILTIN)] == expected


def test_without_a_cluster_default_the_builtin_stands_in() -> None:
    layers = layers_for(Viewer("alice", ("ml",)), [ALICE, ML], BUILTIN)
    assert [p.name for p in layers] == ["alice", "ml", "builtin"]
    assert set(layers[-1].rules) == {JOB, CRON}


def test_a_cluster_default_replaces_the_builtin_rules_of_the_kinds_it_names() -> None:
    layers = layers_for(Viewer("carol", ()), [DEFAULT], BUILTIN)
    assert [p.name for p in layers] == ["cluster-default", "builtin"]
    assert set(layers[-1].rules) == {CRON}  # its Job rules are the cluster default's


def test_equal_priorities_are_ordered_by_name_whatever_the_list_order() -> None:
    b, a = policy("b", ("Group", "g")), policy("a", ("Group", "g"))
    for given in ([a, b], [b, a]):
        assert [p.name for p in layers_for(Viewer("x", ("g",)), given, BUILTIN)][:2] == ["a", "b"]
