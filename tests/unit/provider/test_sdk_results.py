"""What a handler's return value and exceptions become: result output, message, reason,
and whether the task is retried (and after what delay)."""

import dataclasses
import datetime
from typing import Any

import pytest
from pydantic import BaseModel
from taskmill.provider.errors import NonRetryableError, RetryableError, TaskStopped
from taskmill.provider.results import Result, error_outcome, handler_outcome


class Score(BaseModel):
    item: str
    score: float


@dataclasses.dataclass
class Pair:
    a: int
    b: str


@pytest.mark.parametrize(
    ("value", "output"),
    [
        (None, ""),
        ("text", "text"),
        (b"raw bytes", "raw bytes"),
        (bytearray(b"ba"), "ba"),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        ([1, "x"], '[1, "x"]'),
        (7, "7"),
        (True, "true"),
        (Score(item="a", score=0.5), '{"item": "a", "score": 0.5}'),
        ([Score(item="b", score=1)], '[{"item": "b", "score": 1.0}]'),
        (Pair(1, "x"), '{"a": 1, "b": "x"}'),
        ({"at": datetime.date(2026, 1, 2)}, '{"at": "2026-01-02"}'),
        ({1, 2}, "[1, 2]"),
    ],
)
def test_return_values_are_serialised_the_obvious_way(value: Any, output: str) -> None:
    outcome = handler_outcome(value)
    assert (outcome.succeeded, outcome.result.output, outcome.reason) == (True, output, "Completed")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (object(), "cannot be serialised to JSON (object)"),
        ({"f": lambda: 1}, "cannot be serialised to JSON (dict)"),
        (float("inf"), "cannot be serialised to JSON (float)"),
        (b"\xff", "bytes that are not UTF-8"),
        (Result("x" * 5000), "over the 4096-byte inline limit"),
    ],
)
def test_a_value_that_cannot_be_stored_fails_the_attempt_saying_why(value: Any, why: str) -> None:
    outcome = handler_outcome(value)
    assert not outcome.succeeded
    assert why in outcome.result.message
    assert outcome.retry  # under the job's policy, like any failure of the attempt


def test_a_result_sets_message_and_reason() -> None:
    outcome = handler_outcome(Result({"n": 2}, message="scored 2 items", reason="Scored"))
    assert outcome.succeeded
    assert (outcome.result.output, outcome.result.message, outcome.result.reason) == (
        '{"n": 2}',
        "scored 2 items",
        "Scored",
    )


@pytest.mark.parametrize("reason", ["not camel", "lower", "", "A" * 65])
def test_a_result_reason_must_be_camel_case(reason: str) -> None:
    with pytest.raises(ValueError, match="CamelCase"):
        Result(reason=reason)


@pytest.mark.parametrize(
    ("error", "message", "reason", "retry", "delay"),
    [
        (ValueError("bad"), "ValueError: bad", "HandlerError", True, None),
        (NonRetryableError("no such item"), "no such item", "NonRetryable", False, None),
        (NonRetryableError("gone", reason="ItemGone"), "gone", "ItemGone", False, None),
        (NonRetryableError(), "NonRetryableError", "NonRetryable", False, None),
        (RetryableError("busy"), "busy", "Retryable", True, None),
        (RetryableError("rate limited", delay=30), "rate limited", "Retryable", True, 30),
        (RetryableError("later", delay=0, reason="Later"), "later", "Later", True, 0),
        (TaskStopped("stop"), "TaskStopped: stop", "HandlerError", True, None),
    ],
)
def test_errors_say_what_happens_to_the_task(
    error: BaseException, message: str, reason: str, retry: bool, delay: float | None
) -> None:
    outcome = error_outcome(error, "Traceback ...")
    assert not outcome.succeeded
    assert (outcome.result.message, outcome.reason) == (message, reason)
    assert (outcome.retry, outcome.retry_delay) == (retry, delay)
    assert outcome.result.output == "Traceback ..."


@pytest.mark.parametrize("delay", [-1, float("nan"), float("inf"), 86401])
def test_a_retry_delay_out_of_range_is_refused(delay: float) -> None:
    with pytest.raises(ValueError, match="retry delay"):
        RetryableError("x", delay=delay)


def test_an_error_reason_must_be_camel_case() -> None:
    with pytest.raises(ValueError, match="CamelCase"):
        NonRetryableError("x", reason="bad reason")
