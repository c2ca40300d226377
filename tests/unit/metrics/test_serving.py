"""--metrics-bind-address: what parses, what is refused (naming the flag), and serving."""

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from taskmill.metrics import BindAddress, BindAddressError, parse_bind_address, resource_of, serve


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (":8080", BindAddress("", 8080)),
        ("127.0.0.1:9000", BindAddress("127.0.0.1", 9000)),
        ("[::1]:8080", BindAddress("::1", 8080)),
        ("localhost:8080", BindAddress("localhost", 8080)),
        ("0", None),
        (" 0 ", None),
    ],
)
def test_addresses_that_parse(value: str, expected: BindAddress | None) -> None:
    assert parse_bind_address(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("8080", "expected HOST:PORT"),
        (":http", "expected HOST:PORT"),
        (":0", "outside 1-65535"),
        (":70000", "outside 1-65535"),
        ("example.com:80", "not an IP address"),
    ],
)
def test_addresses_refused_name_the_flag(value: str, why: str) -> None:
    with pytest.raises(BindAddressError, match=f"--metrics-bind-address: .*{why}"):
        parse_bind_address(value)


def test_a_port_in_use_names_the_flag_and_a_free_one_serves() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BindAddressError, match=f"--metrics-bind-address: .*:{port}"):
            serve(BindAddress("127.0.0.1", port), CollectorRegistry())

    registry = CollectorRegistry()
    Counter("served_probe", "a probe", registry=registry).inc()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    serve(BindAddress("127.0.0.1", port), registry)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert "served_probe_total 1.0" in resp.read().decode()


@pytest.mark.parametrize(
    ("path", "resource", "named"),
    [
        ("/apis/taskmill.io/v1alpha1/namespaces/ns/tasks/a-1/status", "tasks/status", True),
        ("/apis/taskmill.io/v1alpha1/namespaces/ns/tasks", "tasks", False),
        ("/apis/taskmill.io/v1alpha1/tasks", "tasks", False),
        ("/apis/coordination.k8s.io/v1/namespaces/ns/leases/p", "leases", True),
        ("/api/v1/namespaces/ns/events", "events", False),
        ("/api/v1/namespaces/ns", "namespaces", True),
        ("/api/v1/namespaces", "namespaces", False),
    ],
)
def test_resources_are_named_without_object_names(path: str, resource: str, named: bool) -> None:
    assert resource_of(path) == (resource, named)
