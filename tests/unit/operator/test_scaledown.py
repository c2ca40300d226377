"""Scale-down victims: idle first, draining ones kept, removal only when drained."""

from taskmill.operator.scaledown import Member, ready_to_remove, victims

from taskmill.api.presence import Provider


def provider(name: str, *, busy: int = 0, drained: bool = False) -> Provider:
    return Provider(frozenset({"x"}), 15, slots=1, busy=busy, identity=name, drained=drained)


def member(name: str, held: int = 0, since: float | None = None, drained: bool = False) -> Member:
    return Member(name, held, provider(name, busy=held, drained=drained), since)


def test_idle_providers_go_first() -> None:
    members = [member("a", held=1), member("b"), member("c", held=2), member("d")]
    assert [m.identity for m in victims(members, 2)] == ["b", "d"]


def test_a_draining_provider_stays_chosen() -> None:
    members = [member("a", held=1, since=5.0), member("b")]
    assert [m.identity for m in victims(members, 1)] == ["a"]


def test_a_pod_without_presence_is_idle() -> None:
    members = [member("a"), Member("b", 0, None, None)]
    assert [m.identity for m in victims(members, 1)] == ["b"]


def test_removal_waits_for_the_drain() -> None:
    assert not ready_to_remove(member("a", since=0.0), 1.0, 60)  # not acknowledged yet
    assert ready_to_remove(member("a", since=0.0, drained=True), 1.0, 60)
    assert not ready_to_remove(member("a", held=1, since=0.0, drained=True), 1.0, 60)
    assert ready_to_remove(member("a", held=1, since=0.0), 60.0, 60)  # drain timed out
