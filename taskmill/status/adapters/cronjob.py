"""CronJob facts: its schedule and its recent Jobs, which one object does not show.

- `activeRuns`: its Jobs still running.
- `lastRun`: `Succeeded` or `Failed` for the newest finished Job it owns, else
  `Succeeded` when `status.lastSuccessfulTime` is set (history limits may have deleted
  the Jobs), else empty.
- `missedRun`: the most recent scheduled instant (after the CronJob's creation) has
  no run, and more than its grace has passed: the `taskmill.io/start-within`
  annotation, else `spec.startingDeadlineSeconds`, else 60 s.
- `runningLate`: an active run is older than the `taskmill.io/expected-duration`
  annotation.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from taskmill.status.adapters.lateness import EXPECTED_DURATION, START_WITHIN, parse_duration
from taskmill.status.inventory import Inventory

JOB = ("batch", "Job")
DEFAULT_START_GRACE = timedelta(seconds=60)
_FINISHED = {"Complete": "Succeeded", "SuccessCriteriaMet": "Succeeded", "Failed": "Failed"}

Obj = Mapping[str, Any]


def cronjob_facts(
    obj: Obj, inventory: Inventory, now: datetime, problems: list[str]
) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    runs = inventory.children(str(metadata.get("uid", "")), JOB)
    outcomes = [(_start(run), _outcome(run)) for run in runs]
    active = [start for start, outcome in outcomes if not outcome]
    finished = sorted((start, outcome) for start, outcome in outcomes if outcome)
    if finished:
        last_run = finished[-1][1]
    else:
        last_run = "Succeeded" if status.get("lastSuccessfulTime") else ""
    return {
        "activeRuns": max(len(active), len(status.get("active") or ())),
        "lastRun": last_run,
        "missedRun": _missed_run(obj, now, problems),
        "runningLate": _running_late(obj, active, now, problems),
    }


def _outcome(job: Obj) -> str:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status") == "True" and condition.get("type") in _FINISHED:
            return _FINISHED[condition["type"]]
    return ""


def _start(job: Obj) -> datetime:
    status = job.get("status") or {}
    stamp = status.get("startTime") or (job.get("metadata") or {}).get("creationTimestamp")
    return _parse(stamp) or datetime.min.replace(tzinfo=UTC)


def _missed_run(obj: Obj, now: datetime, problems: list[str]) -> bool:
    spec = obj.get("spec") or {}
    metadata = obj.get("metadata") or {}
    try:
        due = last_scheduled(str(spec.get("schedule", "")), spec.get("timeZone"), now)
        grace = _start_grace(obj)
    except ValueError as e:
        problems.append(str(e))
        return False
    created = _parse(metadata.get("creationTimestamp"))
    if created is not None and due < created:
        return False  # the CronJob did not exist at that instant
    last = _parse((obj.get("status") or {}).get("lastScheduleTime"))
    return (last is None or last < due) and now - due > grace


@lru_cache(maxsize=1024)  # a survey asks for every CronJob at one `now`: parse once
def last_scheduled(schedule: str, time_zone: str | None, now: datetime) -> datetime:
    """The most recent instant at or before `now` the schedule names."""
    expression = schedule.strip()
    for prefix in ("CRON_TZ=", "TZ="):  # the controller accepts these, as robfig/cron does
        if expression.startswith(prefix):
            time_zone, _, expression = expression[len(prefix) :].partition(" ")
    try:
        zone = ZoneInfo(time_zone) if time_zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"spec.timeZone: unknown time zone {time_zone!r}") from None
    if not croniter.is_valid(expression):
        raise ValueError(f"spec.schedule: {schedule!r} is not a cron schedule")
    # A tick exactly at `now` counts as due: step back from just after it.
    start = (now + timedelta(microseconds=1)).astimezone(zone)
    due: datetime = croniter(expression, start).get_prev(datetime)
    return due.astimezone(UTC)


def _start_grace(obj: Obj) -> timedelta:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if START_WITHIN in annotations:
        return parse_duration(str(annotations[START_WITHIN]))
    seconds = (obj.get("spec") or {}).get("startingDeadlineSeconds")
    return timedelta(seconds=int(seconds)) if seconds is not None else DEFAULT_START_GRACE


def _running_late(obj: Obj, active: list[datetime], now: datetime, problems: list[str]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if EXPECTED_DURATION not in annotations or not active:
        return False
    try:
        expected = parse_duration(str(annotations[EXPECTED_DURATION]))
    except ValueError as e:
        problems.append(f"annotation {EXPECTED_DURATION}: {e}")
        return False
    return now - min(active) > expected


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
