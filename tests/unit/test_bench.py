"""The bench's pure helpers: request naming (to compare with the API server's metrics),
percentiles and medians."""

import math
from typing import Any

import pytest

from bench.counted import request_key
from bench.report import medians
from bench.stats import percentile


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
