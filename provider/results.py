"""What a finished piece of work reports: the Task result, and whether it succeeded.

The command contract: exit 0 is success; the stdout tail is result.output unless the
command wrote JSON to the file named by TASKMILL_RESULT, which then supplies the
result's message, reason and output. SDK handlers return a JSON-serialisable value,
which becomes result.output.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from taskmill.api.meta import MAX_RESULT_OUTPUT
from taskmill.api.task import TaskResult

REASON_COMPLETED = "Completed"
REASON_NON_ZERO_EXIT = "NonZeroExit"
REASON_HANDLER_ERROR = "HandlerError"
REASON_INVALID_RESULT = "InvalidResult"
REASON_START_FAILED = "StartFailed"

MAX_MESSAGE = 1024
MAX_REASON = 64
_REASON_PATTERN = r"[A-Z][A-Za-z0-9]*"
_RESULT_FIELDS = frozenset({"message", "reason", "output"})


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    result: TaskResult

    @property
    def reason(self) -> str:
        return self.result.reason


class InvalidResultError(ValueError):
    """The result file or a handler's return value does not fit the contract."""


def clip_output(text: str, limit: int = MAX_RESULT_OUTPUT) -> str:
    """The last `limit` bytes of the UTF-8 text, never splitting a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[-limit:].decode(errors="ignore")


def tail_bytes(buffer: bytes, chunk: bytes, limit: int = MAX_RESULT_OUTPUT) -> bytes:
    """Append chunk, keeping only the last `limit` bytes (output may be unbounded)."""
    return (buffer + chunk)[-limit:]


def parse_result_file(text: str) -> dict[str, str]:
    """The fields of a TASKMILL_RESULT file: a JSON object with message, reason, output.

    output may be any JSON value (kept as JSON text unless it is a string). An empty
    file means the command wrote no result.
    """
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as e:
        raise InvalidResultError(f"result file is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidResultError("result file must hold a JSON object")
    unknown = sorted(set(body) - _RESULT_FIELDS)
    if unknown:
        raise InvalidResultError(
            f"unknown result fields {unknown}: expected message, reason, output"
        )
    fields: dict[str, str] = {}
    for key in ("message", "reason"):
        if key in body:
            if not isinstance(body[key], str):
                raise InvalidResultError(f"result {key} must be a string")
            fields[key] = body[key]
    if fields.get("reason") and not _valid_reason(fields["reason"]):
        raise InvalidResultError(
            f"result reason must be CamelCase, at most {MAX_REASON} characters"
        )
    if "output" in body:
        output = body["output"]
        fields["output"] = output if isinstance(output, str) else json.dumps(output)
    return fields


def _valid_reason(reason: str) -> bool:
    return len(reason) <= MAX_REASON and re.fullmatch(_REASON_PATTERN, reason) is not None


def command_outcome(exit_code: int, stdout_tail: bytes, result_file: str) -> Outcome:
    """Outcome of a command from its exit code, stdout tail and TASKMILL_RESULT contents."""
    output = clip_output(stdout_tail.decode(errors="replace"))
    try:
        fields = parse_result_file(result_file)
    except InvalidResultError as e:
        return _invalid(str(e), output, exit_code)
    succeeded = exit_code == 0
    default_reason = REASON_COMPLETED if succeeded else REASON_NON_ZERO_EXIT
    default_message = "" if succeeded else f"command exited with code {exit_code}"
    result = TaskResult(
        exit_code=exit_code,
        output=clip_output(fields.get("output", output)),
        message=fields.get("message", default_message)[:MAX_MESSAGE],
        reason=fields.get("reason") or default_reason,
    )
    return Outcome(succeeded, result)


def handler_outcome(value: Any) -> Outcome:
    """Outcome of an SDK handler that returned `value`."""
    if value is None:
        output = ""
    elif isinstance(value, str):
        output = value
    else:
        try:
            output = json.dumps(value)
        except (TypeError, ValueError) as e:
            return _invalid(f"handler returned a value that is not JSON: {e}", "", None)
    return Outcome(True, TaskResult(output=clip_output(output), reason=REASON_COMPLETED))


def error_outcome(exc: BaseException, traceback_text: str) -> Outcome:
    """Outcome of an SDK handler that raised."""
    message = f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE]
    result = TaskResult(
        output=clip_output(traceback_text), message=message, reason=REASON_HANDLER_ERROR
    )
    return Outcome(False, result)


def start_failed_outcome(error: OSError) -> Outcome:
    """The command could not be started (not found, not executable)."""
    message = f"could not start the command: {error}"[:MAX_MESSAGE]
    return Outcome(False, TaskResult(message=message, reason=REASON_START_FAILED))


def _invalid(message: str, output: str, exit_code: int | None) -> Outcome:
    result = TaskResult(
        exit_code=exit_code,
        output=output,
        message=message[:MAX_MESSAGE],
        reason=REASON_INVALID_RESULT,
    )
    return Outcome(False, result)
