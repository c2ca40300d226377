"""The scoring example's own tests: its handler run with run_local, no cluster.

They are what docs/provider-sdk.md shows for testing a provider.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from taskmill.provider.testing import run_local

EXAMPLE = Path(__file__).parents[3] / "examples" / "providers" / "scoring" / "scoring.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scoring", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scoring"] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


scoring = load_example()


@pytest.fixture(scope="module")
def scorer() -> Any:
    scorer = scoring.Scorer(scoring.DEFAULT_MODEL)
    scorer.load()  # what the provider's setup hook does once per process
    return scorer


def test_a_batch_is_scored_and_labelled(scorer: Any) -> None:
    items = [
        {"id": "r1", "text": "Great battery, fast delivery. Would recommend."},
        {"id": "r2", "text": "Arrived late and broken; I want a refund."},
    ]
    run = run_local(scorer.score, {"model": "sentiment-v3", "items": items})
    assert (run.succeeded, run.reason, run.message) == (
        True,
        "Scored",
        "2 items scored, 1 positive",
    )
    result = run.json()
    assert [(s["id"], s["label"]) for s in result["scores"]] == [
        ("r1", "positive"),
        ("r2", "negative"),
    ]
    assert run.progress == (100, "2/2 items")


def test_a_single_item_and_the_threshold(scorer: Any) -> None:
    params = {"model": "sentiment-v3", "threshold": 0.99, "item": {"id": "a", "text": "good"}}
    run = run_local(scorer.score, params)
    assert run.json()["scores"][0]["label"] == "negative"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"model": "sentiment-v3"}, "expected `item` or a non-empty `items`"),
        ({"model": "sentiment-v3", "items": [{"id": "", "text": "x"}]}, "items.0.id"),
        ({"model": "sentiment-v3", "threshold": 2, "item": {"id": "a", "text": ""}}, "threshold"),
    ],
)
def test_a_malformed_batch_fails_at_once(scorer: Any, params: dict[str, Any], says: str) -> None:
    run = run_local(scorer.score, params)
    assert (run.succeeded, run.reason, run.retry) == (False, "InvalidParams", False)
    assert says in run.message


def test_a_model_this_provider_does_not_serve_fails_at_once(scorer: Any) -> None:
    run = run_local(scorer.score, {"model": "sentiment-v9", "item": {"id": "a", "text": "ok"}})
    assert (run.succeeded, run.reason, run.retry) == (False, "UnknownModel", False)
    assert run.message == "this provider serves sentiment-v3, not sentiment-v9"


def test_the_provider_loads_the_model_in_setup_and_serves_one_capability() -> None:
    provider = scoring.build(["--namespace", "ns"], {"SCORING_CONCURRENCY": "3"})
    assert list(provider.handlers) == ["items.score"]
    assert provider.handlers["items.score"].options.timeout == scoring.TIMEOUT_SECONDS
    assert (provider.namespace, provider.concurrency) == ("ns", 3)
