"""The demo's progress lines and its cut of `kubectl get` output (no cluster)."""

import io
from typing import Any

import pytest

from taskmill.api import BatchJob
from tests.harness.demo import truncate_listing
from tests.harness.demo_progress import JobRow, LiveDisplay, PlainDisplay, bar, format_row


def job(name: str, status: dict[str, Any] | None = None) -> BatchJob:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"capability": "c", "range": {"end": 4}},
    }
    if status is not None:
        body["status"] = status
    return BatchJob.model_validate(body)


RUNNING: dict[str, Any] = {
    "observedGeneration": 1,
    "phase": "Running",
    "normalizedStatus": "Running",
    "counts": {"total": 10, "succeeded": 4, "leased": 3},
}


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [(0, 0, "[....]"), (0, 4, "[....]"), (1, 4, "[#...]"), (3, 4, "[###.]"), (4, 4, "[####]")],
)
def test_bar_fills_in_proportion_and_only_when_complete_fully(
    done: int, total: int, expected: str
) -> None:
    assert bar(done, total, width=4) == expected


def test_a_job_the_operator_has_not_seen_yet_shows_no_status() -> None:
    row = JobRow.of(job("fresh"))
    assert (row.status, row.succeeded, row.total, row.finished, row.failed) == (
        "-",
        0,
        0,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("phase", "finished", "failed"),
    [
        ("Running", False, False),
        ("Succeeded", True, False),
        ("Failed", True, True),
        ("Cancelled", True, True),
    ],
)
def test_finished_and_failed_follow_the_raw_phase(phase: str, finished: bool, failed: bool) -> None:
    row = JobRow.of(job("j", {**RUNNING, "phase": phase}))
    assert (row.finished, row.failed) == (finished, failed)


def test_a_row_shows_name_status_progress_and_running_tasks() -> None:
    line = format_row(JobRow.of(job("hash-bulk", RUNNING)))
    assert line.split() == [
        "hash-bulk",
        "Running",
        "4/10",
        "[" + "#" * 9 + "." * 15 + "]",
        "3",
        "running",
    ]
    idle = format_row(JobRow.of(job("j", {**RUNNING, "counts": {"total": 2, "leased": 0}})))
    assert "running" not in idle.replace("Running", "")


def test_color_wraps_only_the_status() -> None:
    line = format_row(JobRow.of(job("j", RUNNING)), color=True)
    assert "\x1b[36mRunning" in line
    assert line.startswith("j ")


def test_plain_display_prints_a_job_again_only_when_it_changed() -> None:
    out = io.StringIO()
    display = PlainDisplay(out)
    first = [JobRow.of(job("a", RUNNING)), JobRow.of(job("b"))]
    display.show(first, 1.0)
    display.show(first, 2.0)
    progressed = {**RUNNING, "counts": {**RUNNING["counts"], "succeeded": 5}}
    display.show([JobRow.of(job("a", progressed)), JobRow.of(job("b"))], 3.0)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["1.0s", "a"], ["1.0s", "b"], ["3.0s", "a"]]
    assert "5/10" in lines[-1]


def test_live_display_redraws_its_block_in_place() -> None:
    out = io.StringIO()
    display = LiveDisplay(out, color=False)
    rows = [JobRow.of(job("a", RUNNING)), JobRow.of(job("b"))]
    display.show(rows, 1.0)
    first = out.getvalue()
    assert "\x1b[" not in first
    assert len(first.splitlines()) == 3  # header and two jobs
    display.show(rows, 2.0)
    assert out.getvalue()[len(first) :].startswith("\x1b[3F\x1b[J")  # up 3 lines, erase
    display.note("note")
    assert out.getvalue().endswith("\x1b[3F\x1b[Jnote\n")
    mark = len(out.getvalue())
    display.show(rows, 3.0)
    assert not out.getvalue()[mark:].startswith("\x1b["), "the note stays above the new block"


LISTING = """NAME          STATUS
batchjob/a    Success

NAME       STATUS
task/a-0   Success
task/a-1   Success
task/a-2   Success
"""


@pytest.mark.parametrize(
    ("keep", "last_lines"),
    [
        (5, ["task/a-0   Success", "task/a-1   Success", "task/a-2   Success"]),
        (3, ["task/a-0   Success", "task/a-1   Success", "task/a-2   Success"]),
        (2, ["task/a-0   Success", "task/a-1   Success", "... 1 more (hint)"]),
    ],
)
def test_truncate_listing_cuts_only_the_last_table(keep: int, last_lines: list[str]) -> None:
    cut = truncate_listing(LISTING, keep, "hint")
    first, last = cut.split("\n\n")
    assert first == "NAME          STATUS\nbatchjob/a    Success"
    assert last.splitlines() == ["NAME       STATUS", *last_lines]
