from collections import Counter
from pathlib import Path

import pytest

from tests.harness.metrics import diff, gauge, request_counts

# An excerpt of a real kube-apiserver 1.35 /metrics capture, including neighbouring
# families (apiserver_request_duration_seconds_count) that must not be counted.
SAMPLE = (Path(__file__).parent / "data" / "apiserver-metrics-sample.prom").read_text()


def test_request_counts_sums_codes_and_scopes_per_verb_resource_subresource() -> None:
    assert request_counts(SAMPLE) == Counter(
        {
            ("GET", "", "/readyz"): 2 + 21,
            ("LIST", "namespaces", ""): 1,
            ("GET", "namespaces", ""): 15 + 3,
            ("POST", "namespaces", ""): 4 + 1,
            ("GET", "serviceaccounts", ""): 1 + 1,
            ("POST", "serviceaccounts", ""): 4,
            ("APPLY", "flowschemas", "status"): 14,
            ("POST", "flowschemas", ""): 11,
        }
    )


@pytest.mark.parametrize(
    ("line", "key", "count"),
    [
        ('apiserver_request_total{verb="GET",resource="a\\"b",subresource=""} 3', 'a"b', 3),
        ('apiserver_request_total{resource="x,y",verb="GET",subresource=""} 1e+06', "x,y", 10**6),
        ('apiserver_request_total{verb="GET",resource="t",subresource=""} 7 1700000000000', "t", 7),
    ],
)
def test_label_values_may_hold_quotes_and_commas(line: str, key: str, count: int) -> None:
    assert request_counts(line) == Counter({("GET", key, ""): count})


def test_diff_keeps_only_what_grew() -> None:
    before = Counter({("GET", "tasks", ""): 5, ("PATCH", "tasks", "status"): 2})
    after = Counter(
        {("GET", "tasks", ""): 5, ("PATCH", "tasks", "status"): 9, ("LIST", "x", ""): 1}
    )
    assert diff(before, after) == Counter({("PATCH", "tasks", "status"): 7, ("LIST", "x", ""): 1})


GAUGES = """# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
go_memstats_heap_inuse_bytes 1.70483712e+08
go_memstats_heap_inuse_bytes_total 1
watch_cache_capacity{group="",resource="pods"} 100
watch_cache_capacity{group="taskmill.io",resource="tasks"} 2048 1700000000000
"""


@pytest.mark.parametrize(
    ("name", "labels", "value"),
    [
        ("go_memstats_heap_inuse_bytes", {}, 170483712.0),
        ("watch_cache_capacity", {"group": "taskmill.io", "resource": "tasks"}, 2048.0),
        ("watch_cache_capacity", {"resource": "pods"}, 100.0),
        ("watch_cache_capacity", {"resource": "leases"}, None),
        ("go_memstats_heap", {}, None),  # a name's prefix is not the name
    ],
)
def test_gauge_finds_one_sample_by_name_and_labels(
    name: str, labels: dict[str, str], value: float | None
) -> None:
    assert gauge(GAUGES, name, **labels) == value
