"""A warm provider: a model loaded once per process scores the items of a BatchJob.

    POD_NAME=scorer-1 python -m scoring --namespace NS      (from this directory)

Capability `items.score`. A BatchJob fans its `items` out to Tasks (`batchSize` items
each), with shared params naming the model version it was written for:

    spec:
      capability: items.score
      items: [{id: r1, text: "great battery, fast delivery"}, ...]
      batchSize: 20
      params: {model: sentiment-v3, threshold: 0.5}

Each Task's result.output is the JSON of `Scores`: one score in [0, 1] and a label per
item. What the SDK does here, besides calling the handler:

- setup loads the model before the first claim; every task reuses it;
- params are validated against `ScoreParams`: a malformed batch fails its Task at once
  (reason InvalidParams) instead of being retried;
- a model version this process does not serve fails the task at once too
  (NonRetryableError, reason UnknownModel): another attempt cannot help;
- the handler is sync (CPU-bound work belongs in a thread) and checks ctx between
  items, so a cancel, a timeout or a shutdown stops it within one item;
- a batch that takes longer than TIMEOUT_SECONDS is stopped and retried.

Environment: SCORING_MODEL (the model file, default: model.json beside this file),
SCORING_CONCURRENCY (tasks at once, default 2), HEALTH_PORT (serve /healthz and
/readyz; unset: off), POD_NAME and POD_NAMESPACE (identity and namespace).
"""

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from taskmill.provider.context import Context
from taskmill.provider.errors import NonRetryableError
from taskmill.provider.options import HandlerOptions
from taskmill.provider.results import Result
from taskmill.provider.sdk import Provider

CAPABILITY = "items.score"
TIMEOUT_SECONDS = 120
DEFAULT_MODEL = Path(__file__).with_name("model.json")
WORD = re.compile(r"[a-z']+")


class Item(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=10_000)


class ScoreParams(BaseModel):
    """A Task's params: the BatchJob's shared params plus its item or items."""

    model: str
    threshold: float = Field(default=0.5, ge=0, le=1)
    item: Item | None = None  # batchSize 1
    items: list[Item] = []  # batchSize > 1

    @model_validator(mode="after")
    def one_source(self) -> "ScoreParams":
        if (self.item is None) == (not self.items):
            raise ValueError("expected `item` or a non-empty `items`, not both")
        return self

    def batch(self) -> list[Item]:
        return [self.item] if self.item is not None else self.items


class ItemScore(BaseModel):
    id: str
    score: float
    label: Literal["positive", "negative"]


class Scores(BaseModel):
    model: str
    scores: list[ItemScore]


class SentimentModel:
    """A linear bag-of-words model: stands in for whatever is expensive to load."""

    def __init__(self, version: str, weights: dict[str, float], bias: float) -> None:
        self.version = version
        self.weights = weights
        self.bias = bias

    @classmethod
    def load(cls, path: Path) -> "SentimentModel":
        spec: dict[str, Any] = json.loads(path.read_text())
        return cls(spec["version"], spec["weights"], spec["bias"])

    def score(self, text: str) -> float:
        logit = self.bias + sum(self.weights.get(w, 0.0) for w in WORD.findall(text.lower()))
        return round(1 / (1 + math.exp(-logit)), 4)


class Scorer:
    """The handler and the model it shares across tasks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.model: SentimentModel | None = None

    def load(self) -> None:
        self.model = SentimentModel.load(self.path)

    def score(self, params: ScoreParams, ctx: Context) -> Result:
        model = self.model
        assert model is not None, "setup loads the model before any task"
        if params.model != model.version:
            raise NonRetryableError(
                f"this provider serves {model.version}, not {params.model}", reason="UnknownModel"
            )
        batch = params.batch()
        scores = []
        for done, item in enumerate(batch, start=1):
            ctx.check()  # stop within one item once cancelled
            score = model.score(item.text)
            label: Literal["positive", "negative"] = (
                "positive" if score >= params.threshold else "negative"
            )
            scores.append(ItemScore(id=item.id, score=score, label=label))
            ctx.progress(100 * done // len(batch), f"{done}/{len(batch)} items")
        positive = sum(s.label == "positive" for s in scores)
        ctx.log.info("scored %d items with %s", len(scores), model.version)
        return Result(
            Scores(model=model.version, scores=scores),
            message=f"{len(scores)} items scored, {positive} positive",
            reason="Scored",
        )


def build(argv: Sequence[str], env: Mapping[str, str]) -> Provider:
    parser = argparse.ArgumentParser(description="Score items with a model (items.score).")
    parser.add_argument("--namespace", help="namespace of the tasks (default $POD_NAMESPACE)")
    args = parser.parse_args(argv)
    health = env.get("HEALTH_PORT")
    provider = Provider(
        namespace=args.namespace,
        concurrency=int(env.get("SCORING_CONCURRENCY", "2")),
        health_port=int(health) if health else None,
    )
    scorer = Scorer(Path(env.get("SCORING_MODEL", str(DEFAULT_MODEL))))
    provider.setup(scorer.load)
    provider.add_handler(CAPABILITY, scorer.score, HandlerOptions(timeout=TIMEOUT_SECONDS))
    return provider


if __name__ == "__main__":
    build(sys.argv[1:], os.environ).run()
