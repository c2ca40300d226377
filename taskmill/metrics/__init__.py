"""Serving Prometheus metrics: the `--metrics-bind-address` flag both components take.

kubebuilder's convention: `:8080` serves on every interface, `127.0.0.1:8080` on one,
`0` turns metrics off. The exposition runs in prometheus_client's own thread, so a slow
scrape never waits on the event loop and the event loop never waits on a scrape; what it
reads are the collectors' last values, set by the components as they go.
"""

import ipaddress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, start_http_server

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


class ClientMetrics:  # a taskmill.kube.api.Observer
    """What the API client and its reflectors did, for either component's registry:
    requests by verb, resource and code, watch restarts and relists by resource."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "taskmill_api_requests",
            "Requests to the API server by verb, resource and HTTP code (0: no answer)",
            ("verb", "resource", "code"),
            registry=registry,
        )
        self.watch_restarts = Counter(
            "taskmill_watch_restarts",
            "Watches that ended in an error or went silent and were opened again",
            ("resource",),
            registry=registry,
        )
        self.relists = Counter(
            "taskmill_watch_relists",
            "Full lists of a collection (the first, and one after each 410 Gone)",
            ("resource",),
            registry=registry,
        )

    def request(self, method: str, path: str, code: int, *, watch: bool = False) -> None:
        resource, named = resource_of(path)
        verb = "WATCH" if watch else ("LIST" if method == "GET" and not named else method)
        self.requests.labels(verb, resource, str(code)).inc()

    def watch_restarted(self, path: str) -> None:
        self.watch_restarts.labels(resource_of(path)[0]).inc()

    def relisted(self, path: str) -> None:
        self.relists.labels(resource_of(path)[0]).inc()


def resource_of(path: str) -> tuple[str, bool]:
    """`/apis/G/V/namespaces/NS/tasks/NAME/status` -> ("tasks/status", True): the
    resource (with its subresource) and whether the path names one object. Bounded by
    the resources the components use, never by object names."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    start = 2 if parts[:1] == ["api"] else 3  # past api/v1 or apis/GROUP/VERSION
    rest = parts[start:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]  # namespaces/NS/... (but `namespaces/NAME` is a namespace)
    if not rest:
        return "", False
    resource = rest[0]
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    return resource, len(rest) >= 2
