from collections import Counter

import pytest
from taskmill.operator.nomination import Nominations

from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.presence import Provider


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
