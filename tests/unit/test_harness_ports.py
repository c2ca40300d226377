import random
import socket

from tests.harness.ports import ephemeral_range, free_ports


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_ports_are_never_ones_an_outgoing_connection_may_hold() -> None:
    # The kernel gives outgoing connections local ports from this range; a component
    # told to listen on one of them can find it held by a long-lived watch (the kubelet
    # e2e's operator crash-looped on "address already in use" so).
    low, high = ephemeral_range()
    assert not [port for port in free_ports(50) if low <= port <= high]


def test_a_taken_port_is_not_handed_out() -> None:
    taken, free = free_ports(2)

    class Draws(random.Random):
        """Draws the taken port first, then the free one."""

        def __init__(self) -> None:
            super().__init__()
            self.draws = iter([taken, free])

        def randrange(self, *_: object, **__: object) -> int:
            return next(self.draws)

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        assert free_ports(1, Draws()) == [free]
