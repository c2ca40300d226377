"""Builders for the pure-logic tests: a BatchJob from a few keyword arguments."""

from datetime import UTC, datetime, timedelta
from typing import Any

from taskmill.api import BatchJob, BatchJobSpec, BatchJobStatus, ObjectMeta

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus `seconds`: tests read times as offsets from the job's creation."""
    return T0 + timedelta(seconds=seconds)


def make_job(
    *,
    name: str = "job",
    generation: int = 1,
    created: datetime | None = T0,
    status: BatchJobStatus | None = None,
    **spec: Any,
) -> BatchJob:
    """A BatchJob of capability `cap` over three items unless `spec` says otherwise."""
    fields: dict[str, Any] = {"capability": "cap"}
    if not {"tasks", "items", "range"} & spec.keys():
        fields["items"] = [1, 2, 3]
    fields.update(spec)
    return BatchJob(
        metadata=ObjectMeta(
            name=name, namespace="ns", generation=generation, creation_timestamp=created
        ),
        spec=BatchJobSpec.model_validate(fields),
        status=status or BatchJobStatus(),
    )


def presence_lease(
    holder: str, instance: str, renew: str = "t0", duration: int = 5
) -> dict[str, Any]:
    """A provider's presence Lease serving capability "cap" in namespace "ns"."""
    return {
        "metadata": {
            "namespace": "ns",
            "name": f"taskmill-provider-{holder}",
            "labels": {"taskmill.io/provider": "true", "capability.taskmill.io/cap": "true"},
            "annotations": {"taskmill.io/instance": instance},
        },
        "spec": {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": duration},
    }
