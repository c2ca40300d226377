"""Lateness annotations: durations, and when they have passed."""

from datetime import UTC, datetime, timedelta

import pytest

from taskmill.status.adapters.lateness import lateness_facts, parse_duration
from tests.builders import make_workload

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2h", 7200), ("120", 120), (" 5m ", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5x", "1.5h", "m5", "1h 30m", "-5m"])
def test_bad_durations_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def job(**annotations: str) -> dict[str, object]:
    created = "2026-12-01T11:00:00Z"  # an hour before NOW
    return (
        make_workload("batch/v1", "Job", "j")
        .meta(creationTimestamp=created, annotations=annotations)
        .obj()
    )


@pytest.mark.parametrize(
    ("annotations", "start", "duration"),
    [
        ({}, False, False),
        ({"taskmill.io/start-within": "30m"}, True, False),
        ({"taskmill.io/start-within": "2h"}, False, False),
        ({"taskmill.io/expected-duration": "1h"}, False, True),  # at the instant: late
        ({"taskmill.io/expected-duration": "61m"}, False, False),
    ],
)
def test_facts_from_annotations(annotations: dict[str, str], start: bool, duration: bool) -> None:
    problems: list[str] = []
    facts = lateness_facts(job(**annotations), NOW, problems)
    assert facts == {"startWithinExceeded": start, "expectedDurationExceeded": duration}
    assert problems == []


def test_a_bad_annotation_is_a_problem_not_a_crash() -> None:
    problems: list[str] = []
    facts = lateness_facts(job(**{"taskmill.io/start-within": "soon"}), NOW, problems)
    assert facts["startWithinExceeded"] is False
    assert problems == [
        "annotation taskmill.io/start-within: 'soon' is not a duration like 90s, 15m or 1h30m"
    ]
