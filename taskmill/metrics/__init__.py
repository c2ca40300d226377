"""Serving Prometheus metrics: the `--metrics-bind-address` flag both components take.

kubebuilder's convention: `:8080` serves on every interface, `127.0.0.1:8080` on one,
`0` turns metrics off. The exposition runs in prometheus_client's own thread, so a slow
scrape never waits on the event loop and the event loop never waits on a scrape; what it
reads are the collectors' last values, set by the components as they go.
"""

import ipaddress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server

OFF = "0"


class BindAddressError(ValueError):
    """A malformed --metrics-bind-address; the message names the flag."""


@dataclass(frozen=True)
class BindAddress:
    host: str  # "" means every interface
    port: int


def parse_bind_address(value: str, flag: str = "--metrics-bind-address") -> BindAddress | None:
    """`:8080`, `0.0.0.0:8080`, `[::1]:8080` or `0` (off) -> where to listen, or None."""
    if value.strip() == OFF:
        return None
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise BindAddressError(f"{flag}: expected HOST:PORT, :PORT or 0, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise BindAddressError(f"{flag}: port {port} is outside 1-65535")
    host = host.removeprefix("[").removesuffix("]")
    if host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise BindAddressError(
                    f"{flag}: {host!r} is not an IP address (or localhost)"
                ) from None
    return BindAddress(host, port)


def serve(
    address: BindAddress, registry: CollectorRegistry, flag: str = "--metrics-bind-address"
) -> None:
    """Start serving /metrics in a daemon thread; a port in use names the flag."""
    try:
        start_http_server(address.port, addr=address.host or "0.0.0.0", registry=registry)
    except OSError as e:
        where = f"{address.host or '*'}:{address.port}"
        raise BindAddressError(f"{flag}: cannot listen on {where}: {e.strerror or e}") from e
