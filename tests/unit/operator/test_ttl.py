"""ttlSecondsAfterFinished runs from completionTime of a finished job."""

from datetime import datetime

import pytest
from taskmill.operator.ttl import dependents_holding, ttl_expires_at

from taskmill.api import BatchJobSpec, BatchJobStatus, JobPhase

from .builders import at, make_job


def spec(ttl: int | None) -> BatchJobSpec:
    return BatchJobSpec(capability="cap", items=[1], ttl_seconds_after_finished=ttl)


DONE = BatchJobStatus(phase=JobPhase.SUCCEEDED, completion_time=at(100))


@pytest.mark.parametrize(
    ("ttl", "status", "expires"),
    [
        (None, DONE, None),
        (60, DONE, at(160)),
        (0, DONE, at(100)),
        (60, BatchJobStatus(phase=JobPhase.FAILED, completion_time=at(5)), at(65)),
        (60, BatchJobStatus(phase=JobPhase.CANCELLED, completion_time=at(5)), at(65)),
        (60, BatchJobStatus(phase=JobPhase.RUNNING), None),
        (60, BatchJobStatus(phase=JobPhase.SUCCEEDED), None),  # completionTime not written yet
    ],
)
def test_ttl_expires_at(ttl: int | None, status: BatchJobStatus, expires: datetime | None) -> None:
    assert ttl_expires_at(spec(ttl), status) == expires


def test_a_finished_job_waits_for_dependents_that_have_not_taken_in_its_outcome() -> None:
    latched = make_job(name="latched", status=BatchJobStatus(dependencies_met_time=at(1)))
    done = make_job(name="done", status=BatchJobStatus(phase=JobPhase.FAILED))
    waiting = make_job(name="waiting")
    assert dependents_holding([latched, done]) == []
    assert dependents_holding([latched, waiting, done]) == ["waiting"]
