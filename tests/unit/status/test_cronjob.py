"""CronJob facts and values: schedule, suspension, its runs, lateness."""

from datetime import UTC, datetime
from typing import Any

import pytest

from taskmill.api import NormalizedStatus
from taskmill.status import Inventory, builtin_policy, gather, normalize
from taskmill.status.adapters.cronjob import last_scheduled
from tests.builders import make_workload

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
UID = "cron-uid"


def cronjob(schedule: str = "*/5 * * * *", **status: Any) -> Any:
    return (
        make_workload("batch/v1", "CronJob", "nightly")
        .meta(uid=UID, creationTimestamp="2026-12-01T10:00:00Z")
        .spec(schedule=schedule)
        .status(**status)
    )


def run(name: str, start: str, outcome: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": start}
    if outcome:
        status["conditions"] = [{"type": outcome, "status": "True"}]
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly",
        "uid": UID,
        "controller": True,
    }
    return (
        make_workload("batch/v1", "Job", name).meta(ownerReferences=[owner]).status(**status).obj()
    )


def verdict_of(obj: dict[str, Any], *runs: dict[str, Any]) -> tuple[NormalizedStatus, str]:
    gathered = gather(obj, Inventory(runs), NOW)
    assert gathered.problems == ()
    verdict = normalize(obj, [builtin_policy()], NOW, gathered.facts)
    return verdict.value, verdict.rule


ON_TIME = {"lastScheduleTime": "2026-12-01T12:00:00Z"}


# The mapping table for batch/v1 CronJob (docs/status.md prints the same table).
@pytest.mark.parametrize(
    ("obj", "runs", "expected"),
    [
        (cronjob(**ON_TIME).obj(), [], (NormalizedStatus.WAITING, "scheduled")),
        (
            cronjob(**ON_TIME).spec(suspend=True).obj(),
            [],
            (NormalizedStatus.ON_HOLD, "suspended"),
        ),
        (
            cronjob(**ON_TIME).obj(),
            [run("a", "2026-12-01T12:00:01Z")],
            (NormalizedStatus.RUNNING, "running"),
        ),
        (
            cronjob(**ON_TIME).obj(),
            [
                run("a", "2026-12-01T11:55:00Z", "Complete"),
                run("b", "2026-12-01T12:00:00Z", "Failed"),
            ],
            (NormalizedStatus.FAILURE, "last-failed"),
        ),
        (
            cronjob(**ON_TIME).obj(),
            [
                run("a", "2026-12-01T11:55:00Z", "Failed"),
                run("b", "2026-12-01T12:00:00Z", "Complete"),
            ],
            (NormalizedStatus.SUCCESS, "last-succeeded"),
        ),
        (
            cronjob(lastSuccessfulTime="2026-12-01T11:56:00Z", **ON_TIME).obj(),
            [],  # the history limit deleted the Jobs
            (NormalizedStatus.SUCCESS, "last-succeeded"),
        ),
        (
            cronjob(lastScheduleTime="2026-12-01T11:55:00Z").obj(),
            [],  # 12:00 is 30 s overdue: within the default 60 s grace
            (NormalizedStatus.WAITING, "scheduled"),
        ),
        (
            cronjob(lastScheduleTime="2026-12-01T11:55:00Z").spec(startingDeadlineSeconds=10).obj(),
            [],
            (NormalizedStatus.LATE_TO_START, "missed-run"),
        ),
        (
            cronjob(lastScheduleTime="2026-12-01T11:55:00Z")
            .meta(annotations={"taskmill.io/start-within": "20s"})
            .obj(),
            [],
            (NormalizedStatus.LATE_TO_START, "missed-run"),
        ),
        (
            cronjob("0 11 * * *").obj(),
            [],  # due 11:00, never ran, long overdue
            (NormalizedStatus.LATE_TO_START, "missed-run"),
        ),
        (
            cronjob("0 9 * * *").obj(),
            [],  # due 09:00, before the CronJob existed
            (NormalizedStatus.WAITING, "scheduled"),
        ),
        (
            cronjob(**ON_TIME).meta(annotations={"taskmill.io/expected-duration": "10m"}).obj(),
            [run("a", "2026-12-01T11:45:00Z")],
            (NormalizedStatus.RUNNING_LATE, "running-late"),
        ),
    ],
)
def test_cronjob(
    obj: dict[str, Any], runs: list[dict[str, Any]], expected: tuple[NormalizedStatus, str]
) -> None:
    assert verdict_of(obj, *runs) == expected


def test_runs_of_another_cronjob_do_not_count() -> None:
    other = run("x", "2026-12-01T12:00:01Z")
    other["metadata"]["ownerReferences"][0]["uid"] = "another"
    assert verdict_of(cronjob(**ON_TIME).obj(), other)[0] == NormalizedStatus.WAITING


@pytest.mark.parametrize(
    ("schedule", "zone", "expected"),
    [
        ("*/5 * * * *", None, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("@hourly", None, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("0 13 * * *", "Europe/Paris", datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("CRON_TZ=Europe/Paris 0 13 * * *", None, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("30 12 * * *", None, datetime(2026, 11, 30, 12, 30, tzinfo=UTC)),
    ],
)
def test_last_scheduled(schedule: str, zone: str | None, expected: datetime) -> None:
    assert last_scheduled(schedule, zone, NOW) == expected


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"schedule": "every day"}, "spec.schedule: 'every day' is not a cron schedule"),
        ({"timeZone": "Mars/Olympus"}, "spec.timeZone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_schedule_it_cannot_read_is_a_problem_not_a_crash(
    spec: dict[str, str], problem: str
) -> None:
    obj = cronjob(**ON_TIME).spec(**spec).obj()
    gathered = gather(obj, Inventory(), NOW)
    assert gathered.problems == (problem,)
    assert gathered.facts["missedRun"] is False
