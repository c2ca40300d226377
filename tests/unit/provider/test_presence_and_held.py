from datetime import UTC, datetime
from pathlib import Path

import pytest
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.held import Held, StopReason
from taskmill.provider.lease_clock import LeaseClock, LeaseTiming
from taskmill.provider.presence import lease_body, renewal

from taskmill.api.protocol import Fence
from taskmill.api.task import Task
from tests.unit.provider.tasks import task_obj

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_presence_lease_format() -> None:
    config = ProviderConfig(
        capabilities=("image.resize", "ocr"), identity="pod-7", namespace="ns", concurrency=4
    )
    body = lease_body(config, "42-cafe", NOW)
    assert body["metadata"] == {
        "name": "taskmill-provider-pod-7",
        "namespace": "ns",
        "labels": {
            "taskmill.io/provider": "true",
            "capability.taskmill.io/image.resize": "true",
            "capability.taskmill.io/ocr": "true",
        },
        "annotations": {
            "taskmill.io/capabilities": "image.resize,ocr",
            "taskmill.io/concurrency": "4",
            "taskmill.io/busy": "0",
            "taskmill.io/drained": "false",
            "taskmill.io/instance": "42-cafe",
            # The interval a task lease of the same duration would be renewed at.
            "taskmill.io/renew-interval-seconds": "4",
        },
    }
    assert body["spec"] == {
        "holderIdentity": "pod-7",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-01-02T03:04:05.678901Z",
        "renewTime": "2026-01-02T03:04:05.678901Z",
    }
    assert renewal("42-cafe", NOW, busy=3, drained=True) == [
        {"op": "test", "path": "/metadata/annotations/taskmill.io~1instance", "value": "42-cafe"},
        {"op": "replace", "path": "/spec/renewTime", "value": "2026-01-02T03:04:05.678901Z"},
        {"op": "add", "path": "/metadata/annotations/taskmill.io~1busy", "value": "3"},
        {"op": "add", "path": "/metadata/annotations/taskmill.io~1drained", "value": "true"},
    ]


def held() -> Held:
    task = Task.model_validate(task_obj("t", holder="me", epoch=2, phase="Running"))
    clock = LeaseClock.start(LeaseTiming.of(15, 5), 0.0)
    ctx = Context(task, kill_grace_seconds=5, workdir=Path("/nonexistent"))
    return Held(task, Fence("me", 2), clock, ctx)


@pytest.mark.parametrize(
    ("first", "second", "final"),
    [
        (StopReason.CANCELLED, StopReason.SHUTDOWN, StopReason.CANCELLED),
        (StopReason.SHUTDOWN, StopReason.LEASE_LOST, StopReason.LEASE_LOST),
        (StopReason.CANCELLED, StopReason.GONE, StopReason.GONE),
        (StopReason.DEADLINE_MISSED, StopReason.CANCELLED, StopReason.DEADLINE_MISSED),
        (StopReason.CANCELLED, StopReason.DEADLINE_MISSED, StopReason.DEADLINE_MISSED),
        (StopReason.DEADLINE_MISSED, StopReason.GONE, StopReason.GONE),
        (StopReason.LEASE_LOST, StopReason.DEADLINE_MISSED, StopReason.LEASE_LOST),
    ],
)
def test_the_graver_reason_wins(first: StopReason, second: StopReason, final: StopReason) -> None:
    h = held()
    h.stop(first)
    h.stop(second)
    assert h.stop_reason == final
    assert h.ctx.cancelled.is_set()


def test_no_stop_once_the_final_write_is_under_way() -> None:
    h = held()
    h.finish()
    h.stop(StopReason.LEASE_LOST)
    assert (h.stop_reason, h.ctx.cancelled.is_set()) == (None, False)


@pytest.mark.parametrize(
    ("holder", "epoch", "holds"), [("me", 2, True), ("", 3, False), ("me", 3, False)]
)
def test_holds(holder: str, epoch: int, holds: bool) -> None:
    h = held()
    assert (h.fence.holder, h.fence.epoch) == ("me", 2)
    assert h.holds(holder, epoch) is holds
