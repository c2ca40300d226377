"""The provider's metrics: claims and busy slots read live, outcomes from final writes."""

from datetime import UTC, datetime

import pytest
from taskmill.provider.keeper import outcome_of
from taskmill.provider.metrics import ProviderMetrics

from taskmill.api import Task, TaskResult, protocol
from taskmill.api.protocol import Fence
from tests.unit.provider.tasks import task_obj

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_claims_and_busy_slots_are_read_at_scrape_time() -> None:
    m = ProviderMetrics(slots=4)
    tally = {"won": 0}
    m.live.claims = lambda: (tally["won"], 2)
    m.live.busy = lambda: {"cap": tally["won"]}
    tally["won"] = 3

    r = m.registry
    assert r.get_sample_value("taskmill_provider_claims_total", {"result": "won"}) == 3
    assert r.get_sample_value("taskmill_provider_claims_total", {"result": "lost"}) == 2
    assert r.get_sample_value("taskmill_provider_slots_busy", {"capability": "cap"}) == 3
    assert r.get_sample_value("taskmill_provider_slots") == 4


HELD = Task.model_validate(task_obj("t-0", holder="me", epoch=2, phase="Running"))
FENCE = Fence("me", 2)


@pytest.mark.parametrize(
    ("ops", "outcome"),
    [
        (protocol.succeed(HELD, FENCE, NOW, TaskResult()), "succeeded"),
        (protocol.fail_attempt(HELD, FENCE, NOW, outcome="Failed", reason="Exit"), "failed"),
        (
            protocol.release(HELD, FENCE, NOW, outcome="Cancelled", reason="x", hold=True),
            "cancelled",
        ),
        (
            protocol.release(HELD, FENCE, NOW, outcome="Released", reason="x", hold=False),
            "released",
        ),
    ],
)
def test_the_outcome_is_what_the_final_write_records(ops: protocol.Patch, outcome: str) -> None:
    assert outcome_of(ops) == outcome
