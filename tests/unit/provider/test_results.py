import json
from typing import Any

import pytest
from taskmill.provider.results import (
    MAX_RESULT_FILE,
    InvalidResultError,
    Outcome,
    clip_output,
    command_outcome,
    error_outcome,
    handler_outcome,
    parse_result_file,
    tail_bytes,
)


def test_clip_keeps_the_tail_within_4_kib() -> None:
    text = "a" * 5000 + "END"
    clipped = clip_output(text)
    assert len(clipped.encode()) == 4096
    assert clipped.endswith("END")
    assert clip_output("short") == "short"


def test_clip_never_splits_a_character() -> None:
    clipped = clip_output("é" * 3000)  # 2 bytes each
    assert len(clipped.encode()) <= 4096
    assert set(clipped) == {"é"}


def test_tail_bytes_is_bounded() -> None:
    tail = b""
    for i in range(100):
        tail = tail_bytes(tail, f"{i:03d}".encode() * 50, limit=100)
    assert len(tail) == 100
    assert tail.endswith(b"099")


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("", {}),
        ('{"message": "ok"}', {"message": "ok"}),
        ('{"reason": "Resized", "output": {"w": 1}}', {"reason": "Resized", "output": '{"w": 1}'}),
        ('{"output": "plain"}', {"output": "plain"}),
    ],
)
def test_result_file_fields(text: str, fields: dict[str, Any]) -> None:
    assert parse_result_file(text) == fields


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '{"message": 3}',
        '{"reason": "not camel"}',
        '{"extra": 1}',
        json.dumps({"reason": "A" * 65}),
    ],
)
def test_invalid_result_file(text: str) -> None:
    with pytest.raises(InvalidResultError):
        parse_result_file(text)


def test_command_success_uses_stdout_tail() -> None:
    outcome = command_outcome(0, b"x" * 5000 + b"done\n", "")
    assert outcome.succeeded
    assert outcome.result.exit_code == 0
    assert outcome.result.reason == "Completed"
    assert outcome.result.output.endswith("done\n")
    assert len(outcome.result.output) == 4096


def test_command_result_file_overrides() -> None:
    outcome = command_outcome(0, b"noise", '{"message": "m", "reason": "Resized", "output": [1]}')
    assert (outcome.result.message, outcome.result.reason, outcome.result.output) == (
        "m",
        "Resized",
        "[1]",
    )


def test_command_failure() -> None:
    outcome = command_outcome(3, b"boom", "")
    assert not outcome.succeeded
    assert (outcome.result.exit_code, outcome.reason) == (3, "NonZeroExit")
    assert "3" in outcome.result.message


def test_invalid_result_file_fails_the_attempt() -> None:
    outcome = command_outcome(0, b"out", "{")
    assert not outcome.succeeded
    assert outcome.reason == "InvalidResult"


@pytest.mark.parametrize(
    ("value", "output"), [(None, ""), ("text", "text"), ({"a": [1, 2]}, '{"a": [1, 2]}'), (7, "7")]
)
def test_handler_values(value: object, output: str) -> None:
    outcome = handler_outcome(value)
    assert outcome.succeeded
    assert outcome.result.output == output


@pytest.mark.parametrize("value", [{"s": object()}, float("nan"), b"\xff\xfe"])
def test_handler_value_that_is_not_json(value: object) -> None:
    outcome = handler_outcome(value)
    assert (outcome.succeeded, outcome.reason) == (False, "InvalidResult")


def test_handler_error() -> None:
    outcome = error_outcome(ValueError("bad input"), "Traceback...")
    assert (outcome.succeeded, outcome.reason) == (False, "HandlerError")
    assert outcome.result.message == "ValueError: bad input"


BIG = {"rows": ["r" * 100] * 50}  # about 5 KB of JSON


@pytest.mark.parametrize(
    "outcome",
    [
        handler_outcome(BIG),
        handler_outcome("s" * 5000),
        command_outcome(0, b"out", json.dumps({"output": BIG})),
        command_outcome(0, b"out", json.dumps({"output": "x" * (MAX_RESULT_FILE + 10)})),
    ],
    ids=["handler-json", "handler-text", "file-output", "huge-file"],
)
def test_a_result_over_the_inline_limit_fails_the_attempt_unclipped(outcome: Outcome) -> None:
    assert (outcome.succeeded, outcome.reason) == (False, "ResultTooLarge")
    assert "4096-byte" in outcome.result.message or "result file is over" in outcome.result.message
    assert len(outcome.result.output.encode()) <= 4096


def test_a_result_at_the_limit_is_kept_whole() -> None:
    outcome = handler_outcome("v" * 4096)
    assert (outcome.succeeded, len(outcome.result.output)) == (True, 4096)
