"""The bench's pure helpers: request naming (to compare with the API server's metrics),
percentiles and medians."""

import argparse
import asyncio
import math
from typing import Any

import pytest

import bench.limit
from bench.__main__ import steady_size
from bench.counted import request_key
from bench.fleet import configs
from bench.limit import Load, Yardstick
from bench.report import medians, table
from bench.stats import percentile
from bench.steady import Size


@pytest.mark.parametrize(
    ("method", "url", "params", "expected"),
    [
        ("POST", "/apis/taskmill.io/v1alpha1/namespaces/ns/tasks", None, "POST tasks"),
        (
            "PATCH",
            "/apis/taskmill.io/v1alpha1/namespaces/ns/tasks/t-1/status",
            None,
            "PATCH tasks/status",
        ),
        ("GET", "/apis/taskmill.io/v1alpha1/namespaces/ns/tasks/t-1", None, "GET tasks"),
        ("GET", "/apis/taskmill.io/v1alpha1/namespaces/ns/tasks", {"limit": "500"}, "LIST tasks"),
        (
            "GET",
            "/apis/taskmill.io/v1alpha1/namespaces/ns/tasks",
            {"watch": "true", "resourceVersion": "5"},
            "WATCH tasks",
        ),
        # kopf puts the query in the URL itself
        (
            "GET",
            "https://h:6443/apis/taskmill.io/v1alpha1/batchjobs?watch=true",
            None,
            "WATCH batchjobs",
        ),
        ("PATCH", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/op", None, "PATCH leases"),
        ("GET", "/api/v1/namespaces/ns", None, "GET namespaces"),
        ("GET", "/api/v1/namespaces", None, "LIST namespaces"),
        ("POST", "/apis/events.k8s.io/v1/namespaces/ns/events", None, "POST events"),
    ],
)
def test_request_key_names_requests_as_the_api_server_does(
    method: str, url: str, params: dict[str, str] | None, expected: str
) -> None:
    assert request_key(method, url, params) == expected


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([10.0, 20.0], 50, 15.0),
        ([5.0, 1.0, 3.0], 50, 3.0),
        (list(map(float, range(101))), 99, 99.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


def test_medians_take_numbers_only_and_skip_missing_keys() -> None:
    runs: list[dict[str, Any]] = [
        {"a": 1.0, "b": 10, "detail": {"x": 1}},
        {"a": 3.0, "detail": {"x": 2}},
        {"a": 2.0, "b": 30},
    ]
    assert medians(runs) == {"a": 2.0, "b": 20.0}


def test_every_ratio_to_the_limit_shows_the_limit_s_spread() -> None:
    """Samples of 240, 320 and 400 raw writes/s; a run at 80 tasks/s is 240 writes/s."""
    m = {
        "limit": {"min": 240.0, "median": 320.0, "max": 400.0, "samples": 3, "seconds": 20},
        "throughput": {"tasks_per_s": 80.0, "limit_fraction": 0.75},
    }
    rows, _ = table(m, {})
    values = {r["metric"].split(" (")[0]: r["value"] for r in rows}
    assert values["API server raw status patches/s"] == "320 (240-400 over 3 x 20 s)"
    assert values["limit = raw / 3 writes per task"] == "107 (80-133 over 3 x 20 s)"
    assert values["fraction of the limit"] == "0.75 (0.60-1.00 over the limit's spread)"


def test_the_yardstick_brackets_each_run_and_shares_samples_between_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rates = iter([300.0, 240.0, 400.0])

    async def fake_limit(_: Any, load: Load) -> dict[str, float]:
        return {"raw_writes_per_s": next(rates), "apiserver_cpu_ms_per_write": 4.0}

    monkeypatch.setattr(bench.limit, "limit", fake_limit)
    yard = Yardstick(Load(seconds=20))

    async def two_runs() -> list[tuple[float, float]]:
        brackets = []
        for _ in range(2):  # limit, run, limit, run, limit
            brackets.append((await yard.before(None), await yard.after(None)))  # type: ignore[arg-type]
        return brackets

    assert asyncio.run(two_runs()) == [(300.0, 240.0), (240.0, 400.0)]
    assert yard.spread() == {
        "min": 240.0,
        "median": 300.0,
        "max": 400.0,
        "samples": 3,
        "seconds": 20.0,
        "apiserver_cpu_ms_per_write": 4.0,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10x20", Size(10, 20, 60.0, 1)),
        ("200x25/50", Size(200, 25, 60.0, 50)),
    ],
)
def test_steady_size(text: str, expected: Size) -> None:
    assert steady_size(text) == expected


@pytest.mark.parametrize("text", ["200", "200x", "0x25", "200x25/0", "ax2"])
def test_steady_size_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        steady_size(text)


def test_a_fleet_s_agents_are_providers_of_their_own() -> None:
    agents = configs("ns", "noop", "p", 50, 3, 25, 15, "nominated")
    assert [a.identity for a in agents] == ["p50", "p51", "p52"]
    assert {
        (a.namespace, a.capabilities, a.concurrency, a.lease_seconds, a.pending_watch)
        for a in agents
    } == {("ns", ("noop",), 25, 15, "nominated")}
