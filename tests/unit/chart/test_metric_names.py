"""Alerts and dashboard query only metrics that the operator and providers export."""

import json
import re

import pytest
from prometheus_client import CollectorRegistry
from taskmill.operator.metrics import OperatorMetrics
from taskmill.provider.metrics import ProviderMetrics

from tests.unit.chart.helm import CHART

NAME = re.compile(r"\btaskmill_[a-z_]+")


def exported(*registries: CollectorRegistry) -> set[str]:
    """Sample names as Prometheus stores them (`_total`, `_bucket`, ... included)."""
    names = set()
    for registry in registries:
        for family in registry.collect():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    return names


def queried() -> dict[str, set[str]]:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return {
        "alerts.yaml": set(NAME.findall((CHART / "files" / "alerts.yaml").read_text())),
        "dashboard.json": {n for e in exprs for n in NAME.findall(e)},
    }


@pytest.mark.parametrize("source", ["alerts.yaml", "dashboard.json"])
def test_every_queried_metric_is_exported(source: str) -> None:
    names = exported(OperatorMetrics().registry, ProviderMetrics(slots=2).registry)

    unknown = queried()[source] - names
    assert not unknown, f"{source} queries metrics nobody exports: {sorted(unknown)}"
