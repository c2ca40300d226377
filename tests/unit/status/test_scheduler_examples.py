"""The example policies for other schedulers give the documented value for each state."""

from datetime import UTC, datetime

import pytest

from taskmill.status import Inventory, gather, normalize

from .scheduler_samples import (
    EXAMPLES,
    SAMPLES,
    SCHEDULERS,
    Sample,
    compiled_example,
    example,
    manifest,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("policy", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_compiles(policy: str) -> None:
    compiled = compiled_example(policy)
    assert compiled.problems == ()
    assert compiled.rules


def test_every_example_has_samples_of_every_value_it_can_give() -> None:
    assert {s.policy for s in SCHEDULERS} == {p.name for p in EXAMPLES.glob("*.yaml")}
    for scheduler in SCHEDULERS:
        policy = example(scheduler.policy)
        values = {r["value"] for kind in policy["spec"]["rules"] for r in kind["rules"]}
        sampled = {s.expected for s in SAMPLES if s.scheduler is scheduler}
        # Lateness comes from the annotations, tested once for every kind (test_lateness).
        assert values - {"LateToStart", "RunningLate"} <= sampled, scheduler.policy


@pytest.mark.parametrize(
    "sample", SAMPLES, ids=lambda s: f"{s.scheduler.kind}-{s.expected}-{sorted(s.status)}"
)
def test_sample(sample: Sample) -> None:
    compiled = compiled_example(sample.scheduler.policy)
    obj = manifest(sample, "x")
    verdict = normalize(obj, [compiled], NOW, gather(obj, Inventory(), NOW).facts)
    assert verdict.errors == ()
    assert verdict.value == sample.expected


def test_lateness_reaches_another_schedulers_kind() -> None:
    compiled = compiled_example("argo-workflow.yaml")
    obj = manifest(SAMPLES[0], "x")
    obj["metadata"]["annotations"] = {"taskmill.io/start-within": "10m"}
    verdict = normalize(obj, [compiled], NOW, gather(obj, Inventory(), NOW).facts)
    assert verdict.value == "LateToStart"
