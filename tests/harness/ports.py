"""Free TCP ports on the loopback interface."""

import random
import socket
from contextlib import ExitStack
from pathlib import Path

# Below the kernel's ephemeral range (its outgoing connections' local ports) and above
# the well-known services.
LOWEST = 10000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out to outgoing connections."""
    try:
        low, high = EPHEMERAL_RANGE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL


def free_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """Ports free right now, all distinct, and outside the ephemeral range.

    A port the kernel picked (bind to port 0) is an ephemeral one: by the time a
    component binds it, any outgoing connection (a watch, a kubelet's probe) may hold
    it as its local port, for as long as the connection lives. So ports are drawn at
    random below that range and tried. The sockets are held open together so that no
    port is handed out twice; another process may still take one before it is bound,
    which is why ControlPlane retries a start that fails with "address already in use".
    """
    rng = rng or random.Random()
    low, _ = ephemeral_range()
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            port = rng.randrange(LOWEST, low)
            if port in ports:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken
            ports.append(port)
        return ports
