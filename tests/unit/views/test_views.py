"""The views' pure parts: filtering and sorting, alerts, the dashboard, why, rendering."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskmill.api.batchjob import BatchJob
from taskmill.api.task import Task
from taskmill.views.alerts import alerts
from taskmill.views.capacity import Capacity, LiveProvider, capacity, live_providers
from taskmill.views.dashboard import dashboard, per_minute
from taskmill.views.filters import View, ViewError
from taskmill.views.render import status_table
from taskmill.views.rows import WorkloadRow, human
from taskmill.views.why import why_batchjob
from tests.builders import make_batchjob, make_task

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def row(name: str, status: str, kind: str = "Job", age: int = 60, **kw: Any) -> WorkloadRow:
    base = WorkloadRow(
        kind=kind,
        namespace="ns",
        name=name,
        status=status,
        progress="",
        reason=f"{name} is {status}",
        policy="builtin",
        rule=status.lower(),
        created=NOW - timedelta(seconds=age),
        started=None,
        finished=None,
    )
    return replace(base, **kw)


ROWS = [
    row("a-ok", "Success", age=30),
    row("b-broken", "Failure", age=7200),
    row("c-run", "Running", kind="BatchJob", age=600),
    row("d-late", "LateToStart", age=90),
]


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (View(), ["b-broken", "d-late", "c-run", "a-ok"]),  # severity, not alphabet
        (View(sort_by="name"), ["a-ok", "b-broken", "c-run", "d-late"]),
        (View(sort_by="AGE"), ["a-ok", "d-late", "c-run", "b-broken"]),
        (View(statuses=("Failure", "Success")), ["b-broken", "a-ok"]),
        (View(kinds=("batchjob.taskmill.io",)), ["c-run"]),
        (View(name="o"), ["b-broken", "a-ok"]),
        (View(since=timedelta(minutes=5)), ["d-late", "a-ok"]),
    ],
)
def test_select(view: View, expected: list[str]) -> None:
    assert [r.name for r in view.check().select(ROWS, NOW)] == expected


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (View(statuses=("Done",)), "--status 'Done': not one of"),
        (View(sort_by="colour"), "--sort-by 'colour'"),
        (View(columns=("NAME", "OWNER")), "column 'OWNER'"),
    ],
)
def test_views_that_cannot_work_name_the_value(view: View, message: str) -> None:
    with pytest.raises(ViewError, match=message):
        view.check()


def test_alerts_most_severe_first_with_a_next_step() -> None:
    storm = row("e-storm", "Restart", kind="BatchJob", retries=5)
    calm = row("f-calm", "Restart", retries=1)
    found = alerts(
        [*ROWS, storm, calm], [Capacity("gpu", pending=4), Capacity("cpu", 2, 0, 1, 1)], NOW
    )
    assert [(a.severity, a.title, a.subject) for a in found] == [
        ("critical", "backlog with no provider", "capability/gpu"),
        ("critical", "failed", "Job/ns/b-broken"),
        ("warning", "late to start", "Job/ns/d-late"),
        ("warning", "restart storm", "BatchJob/ns/e-storm"),
    ]
    assert found[3].next_step == "kubectl taskmill why e-storm -n ns"
    assert found[1].next_step.startswith("kubectl describe job b-broken -n ns")


def lease(name: str, caps: list[str], renewed_ago: int, slots: int, busy: int) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {f"capability.taskmill.io/{c}": "true" for c in caps},
            "annotations": {"taskmill.io/concurrency": str(slots), "taskmill.io/busy": str(busy)},
        },
        "spec": {
            "leaseDurationSeconds": 15,
            "renewTime": (NOW - timedelta(seconds=renewed_ago)).isoformat(),
        },
    }


def test_capacity_counts_live_providers_and_the_backlog() -> None:
    providers = live_providers(
        [
            lease("p1", ["cpu"], 3, 4, 1),
            lease("p2", ["cpu", "gpu"], 5, 2, 2),
            lease("dead", ["gpu"], 60, 8, 0),
        ],
        NOW,
    )
    assert [p.name for p in providers] == ["p1", "p2"]
    tasks = [
        make_task("t1", "cpu").status(phase="Pending").obj(),
        make_task("t2", "cpu").status(phase="Running").obj(),
        make_task("t3", "gpu").obj(),  # no status yet: Pending by the CRD default
    ]
    assert capacity(tasks, providers) == [
        Capacity("cpu", pending=1, running=1, providers=2, free_slots=3),
        Capacity("gpu", pending=1, running=0, providers=1, free_slots=0),
    ]


def test_dashboard_counts_and_throughput() -> None:
    done = [
        make_task(f"t{i}")
        .status(phase="Succeeded", completionTime=(NOW - timedelta(seconds=s)).isoformat())
        .obj()
        for i, s in enumerate([5, 10, 70, 700])
    ]
    assert per_minute(done, NOW, minutes=3) == [0, 1, 2]
    board = dashboard(ROWS, [], done, NOW)
    assert list(board.by_status) == ["Failure", "LateToStart", "Running", "Success"]
    assert board.by_kind == {
        "Job": {"Success": 1, "Failure": 1, "LateToStart": 1},
        "BatchJob": {"Running": 1},
    }


def test_why_names_every_cause_in_order() -> None:
    job = BatchJob.model_validate(
        make_batchjob("resize", "cpu")
        .namespace("ns")
        .range(end=4)
        .spec(suspend=True, parallelism=1, dependsOn=["prep"])
        .meta(creationTimestamp=NOW.isoformat())
        .status(phase="Running")
        .obj()
    )

    def task(name: str, index: int, priority: int = 0, **status: object) -> Task:
        body = make_task(name, "cpu", "resize").namespace("ns").index(index).spec(priority=priority)
        body.meta(creationTimestamp=(NOW - timedelta(seconds=100 - index)).isoformat())
        return Task.model_validate(body.status(**status).obj())

    own = [
        task("resize-0", 0, phase="Running", attempts=1),
        task(
            "resize-1",
            1,
            phase="Held",
            reason="Backoff",
            attempts=1,
            retryAfter=NOW.isoformat(),
            result={"message": "exit 3", "reason": "NonZeroExit"},
        ),
        task("resize-2", 2, phase="Pending"),
    ]
    other = Task.model_validate(
        make_task("urgent-0", "cpu", "urgent")
        .namespace("ns")
        .spec(priority=9)
        .status(phase="Pending")
        .obj()
    )
    queue = [t for t in own if t.status.phase == "Pending"] + [other]
    causes = why_batchjob(
        job,
        own,
        queue,
        [LiveProvider("p", "ns", frozenset({"cpu"}), 1, 1)],
        {"prep": "Running"},
        NOW,
    )
    assert [c.title for c in causes] == [
        "suspended",
        "predecessors unfinished",
        "providers busy",
        "parallelism reached",
        "retries in backoff",
        "queued",
        "tasks failing",
    ]
    assert "number 2 of 2" in causes[5].detail
    assert "resize-1: exit 3" in causes[6].detail


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (119, "119s"), (600, "10m"), (7300, "2h"), (200000, "2d")]
)
def test_human_durations(seconds: int, text: str) -> None:
    assert human(timedelta(seconds=seconds)) == text


def test_the_table_aligns_columns() -> None:
    text = status_table(ROWS[:2], ("NAME", "STATUS", "AGE"), NOW)
    assert text.splitlines() == [
        "NAME       STATUS    AGE",
        "a-ok       Success   30s",
        "b-broken   Failure   2h",
    ]
