"""Count API requests from the apiserver's Prometheus text, e.g. to measure load per operation.

before = request_counts(cluster.metrics())
...  # the code under test
calls = diff(before, request_counts(cluster.metrics()))
calls[("PATCH", "tasks", "status")]
"""

import re
import urllib.request
from collections import Counter

RequestKey = tuple[str, str, str]  # (verb, resource, subresource)

_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>.*)\}\s+(?P<value>\S+)")
_ANY_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def request_counts(text: str) -> Counter[RequestKey]:
    """apiserver_request_total summed over code, scope, group, version etc."""
    counts: Counter[RequestKey] = Counter()
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(sample["labels"])}
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] += int(float(sample["value"]))
    return counts


def diff(before: Counter[RequestKey], after: Counter[RequestKey]) -> Counter[RequestKey]:
    """Requests made between two snapshots (keys that did not grow are dropped)."""
    return after - before


def gauge(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample `name` whose labels include `labels`, if any."""
    for line in text.splitlines():
        sample = _ANY_SAMPLE.match(line)
        if sample is None or sample["name"] != name:
            continue
        have = {k: _unescape(v) for k, v in _LABEL.findall(sample["labels"] or "")}
        if all(have.get(k) == v for k, v in labels.items()):
            return float(sample["value"])
    return None


def scrape(port: int) -> str:
    """A component's own /metrics on loopback, as Prometheus text."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body: bytes = resp.read()
    return body.decode()
