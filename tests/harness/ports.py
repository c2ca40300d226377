"""Free TCP ports on the loopback interface."""

import socket
from contextlib import ExitStack


def free_ports(count: int) -> list[int]:
    """Ports the kernel considers free right now, all distinct.

    The sockets are held open together so the kernel cannot hand out the same port
    twice; another process may still take one before we bind it, which is why
    ControlPlane retries a start that fails with "address already in use".
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports
