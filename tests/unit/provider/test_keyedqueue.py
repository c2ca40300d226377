from taskmill.provider.keyedqueue import KeyedQueue


def test_first_k_in_key_order_left_in_place() -> None:
    queue = KeyedQueue()
    for name, key in (("c", 3), ("a", 1), ("b", 2)):
        queue.add(name, key)
    assert queue.first(2) == [(1, "a"), (2, "b")]
    assert queue.first(5) == [(1, "a"), (2, "b"), (3, "c")]


def test_removed_and_moved_names_surface_once_at_their_key() -> None:
    queue = KeyedQueue()
    for i in range(5):
        queue.add(f"t{i}", i)
    queue.remove("t0")
    queue.add("t4", -1)  # moved to the front
    queue.add("t4", -1)  # the same again: nothing new
    assert queue.first(3) == [(-1, "t4"), (1, "t1"), (2, "t2")]
    assert len(queue) == 4


def test_stale_entries_do_not_pile_up() -> None:
    queue = KeyedQueue()
    for round_ in range(100):
        for i in range(10):
            queue.add(f"t{i}", round_ * 10 + i)
    assert len(queue) == 10
    assert queue.entries() <= 2 * len(queue) + 64
    assert [name for _, name in queue.first(2)] == ["t0", "t1"]
