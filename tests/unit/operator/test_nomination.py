import math
from collections import Counter

import pytest
from taskmill.operator.nomination import Nominations, floor_with

from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.presence import Provider
from tests.unit.operator.builders import make_job


def provider(identity: str, slots: int, *caps: str, drain: bool = False) -> Provider:
    return Provider(frozenset(caps or {"cpu"}), 15, slots=slots, identity=identity, drain=drain)


@pytest.mark.parametrize(
    ("providers", "capability", "expected"),
    [
        ([], "cpu", {"": 12}),
        ([provider("a", 1), provider("b", 1)], "cpu", {"a": 6, "b": 6}),
        ([provider("a", 3), provider("b", 1)], "cpu", {"a": 9, "b": 3}),  # by slots
        ([provider("a", 0), provider("b", 2)], "cpu", {"a": 4, "b": 8}),  # unsaid: one
        ([provider("a", 1), provider("b", 1, drain=True)], "cpu", {"a": 12}),
        ([provider("a", 1, "gpu"), provider("b", 1)], "gpu", {"a": 12}),
        ([provider("a", 1, "gpu")], "cpu", {"": 12}),
        # not a label value: never nominated (the label could not be written)
        ([provider("a" * 64, 1), provider("b", 1)], "cpu", {"b": 12}),
    ],
)
def test_nominees_follow_live_slots(
    providers: list[Provider], capability: str, expected: dict[str, int]
) -> None:
    nominations = Nominations(providers)
    assert Counter(nominations.nominee(capability, i) for i in range(12)) == expected


def test_neighbouring_indexes_go_to_different_providers() -> None:
    nominations = Nominations([provider("b", 2), provider("a", 2)])
    assert [nominations.nominee("cpu", i) for i in range(4)] == ["a", "b", "a", "b"]


def test_stamp_labels_only_when_someone_is_nominated() -> None:
    def task(index: int) -> dict[str, object]:
        return {"metadata": {"name": f"t-{index}"}, "spec": {"capability": "cpu", "index": index}}

    named = task(1)
    Nominations([provider("a", 1)]).stamp(named)
    assert named["metadata"] == {"name": "t-1", "labels": {LABEL_NOMINEE: "a"}}
    unnamed = task(1)
    Nominations([]).stamp(unnamed)
    assert unnamed["metadata"] == {"name": "t-1"}


def test_only_tasks_at_the_priority_floor_are_nominated() -> None:
    def task(priority: int) -> dict[str, object]:
        return {"metadata": {}, "spec": {"capability": "cpu", "index": 0, "priority": priority}}

    nominations = Nominations([provider("a", 1)], lambda capability: 2)
    above, at = task(3), task(2)
    nominations.stamp(above)
    nominations.stamp(at)
    assert (above["metadata"], at["metadata"]) == ({}, {"labels": {LABEL_NOMINEE: "a"}})


def test_the_floor_counts_the_new_tasks_too() -> None:
    spec = make_job(
        tasks=[
            {"name": "a", "priority": 4},
            {"name": "b", "priority": 1},
            {"name": "c", "priority": 9, "capability": "gpu"},
        ]
    ).spec
    waiting = {"cap": 3.0}
    floor = floor_with(spec, [0, 1, 2], lambda c: waiting.get(c, math.inf))
    assert (floor("cap"), floor("gpu"), floor("disk")) == (1, 9, math.inf)
    assert floor_with(spec, [0], lambda c: waiting.get(c, math.inf))("cap") == 3
