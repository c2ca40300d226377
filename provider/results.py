"""What a finished piece of work reports: the Task result, and whether it succeeded.

The command contract: exit 0 is success; the stdout tail is result.output unless the
command wrote JSON to the file named by TASKMILL_RESULT, which then supplies the
result's message, reason and output. SDK handlers return a value that becomes
result.output: a string or UTF-8 bytes as they are, anything else (a pydantic model,
a dict, a dataclass, a number) as JSON; a Result sets the message and reason too.

A stdout tail is clipped to the inline limit by definition; a result the work chose
(a handler's value, the result file's output) is never clipped: clipping JSON makes
it invalid, so one over the limit fails the attempt with reason ResultTooLarge, unless
the provider has an object store: the outcome keeps such a result (`oversized`) so
that it can be stored as an object and referenced from the Task's result instead.
"""

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python
from taskmill.provider.errors import (
    MAX_REASON,
    NonRetryableError,
    RetryableError,
    TaskError,
    check_reason,
    valid_reason,
)

from taskmill.api import protocol
from taskmill.api.meta import MAX_RESULT_OUTPUT
from taskmill.api.protocol import Fence, Patch, Unclaimed
from taskmill.api.task import Task, TaskResult

REASON_COMPLETED = "Completed"
REASON_NON_ZERO_EXIT = "NonZeroExit"
REASON_HANDLER_ERROR = "HandlerError"
REASON_INVALID_RESULT = "InvalidResult"
REASON_START_FAILED = "StartFailed"
REASON_RESULT_TOO_LARGE = "ResultTooLarge"
REASON_INVALID_PARAMS = "InvalidParams"

MAX_MESSAGE = 1024
# The most of a result file that is read: far more than a valid one can hold.
MAX_RESULT_FILE = 64 * 1024
_RESULT_FIELDS = frozenset({"message", "reason", "output"})


@dataclass(frozen=True)
class Oversized:
    """A result over the inline limit, whole, with the message and reason it chose."""

    output: str
    message: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    """How the work ended. A failure is retried under the task's policy unless
    `retry` is False (fail now); `retry_delay` replaces the task's backoff."""

    succeeded: bool
    result: TaskResult
    retry: bool = True
    retry_delay: float | None = None
    # Work that succeeded with a result over the inline limit: that result, whole, with
    # the message and reason it chose (the outcome itself fails with ResultTooLarge).
    oversized: Oversized | None = None

    @property
    def reason(self) -> str:
        return self.result.reason


class InvalidResultError(ValueError):
    """The result file or a handler's return value does not fit the contract."""

    reason = REASON_INVALID_RESULT


class ResultTooLargeError(InvalidResultError):
    """A result over the inline limit (it is never clipped). `output` is that result
    when it was read whole."""

    reason = REASON_RESULT_TOO_LARGE

    def __init__(self, message: str, output: str | None = None) -> None:
        super().__init__(message)
        self.output = output
        self.fields: dict[str, str] = {}


def check_size(output: str, what: str) -> str:
    size = len(output.encode())
    if size > MAX_RESULT_OUTPUT:
        raise ResultTooLargeError(
            f"{what} is {size} bytes, over the {MAX_RESULT_OUTPUT}-byte inline limit of "
            "result.output; configure an object store on the provider (docs/files.md) or "
            "store large results elsewhere and return a reference",
            output,
        )
    return output


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
    if len(text.encode()) > MAX_RESULT_FILE:
        raise ResultTooLargeError(
            f"result file is over {MAX_RESULT_FILE} bytes; result.output holds at most "
            f"{MAX_RESULT_OUTPUT}: store large results elsewhere and return a reference"
        )
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
    if fields.get("reason") and not valid_reason(fields["reason"]):
        raise InvalidResultError(
            f"result reason must be CamelCase, at most {MAX_REASON} characters"
        )
    if "output" in body:
        output = body["output"]
        text = output if isinstance(output, str) else json.dumps(output)
        try:
            fields["output"] = check_size(text, "result file output")
        except ResultTooLargeError as e:
            e.fields = fields
            raise
    return fields


def command_outcome(exit_code: int, stdout_tail: bytes, result_file: str) -> Outcome:
    """Outcome of a command from its exit code, stdout tail and TASKMILL_RESULT contents."""
    output = clip_output(stdout_tail.decode(errors="replace"))
    try:
        fields = parse_result_file(result_file)
    except InvalidResultError as e:
        invalid = _invalid(e, output, exit_code)
        if exit_code == 0 and isinstance(e, ResultTooLargeError) and e.output is not None:
            kept = Oversized(e.output, e.fields.get("message", ""), e.fields.get("reason", ""))
            return replace(invalid, oversized=kept)
        return invalid
    succeeded = exit_code == 0
    default_reason = REASON_COMPLETED if succeeded else REASON_NON_ZERO_EXIT
    default_message = "" if succeeded else f"command exited with code {exit_code}"
    result = TaskResult(
        exit_code=exit_code,
        output=fields.get("output", output),
        message=fields.get("message", default_message)[:MAX_MESSAGE],
        reason=fields.get("reason") or default_reason,
    )
    return Outcome(succeeded, result)


@dataclass(frozen=True)
class Result:
    """A handler's return value with the result's message and reason:
    `return Result(scores, message="scored 20 items", reason="Scored")`."""

    output: Any = None
    message: str = ""
    reason: str = REASON_COMPLETED

    def __post_init__(self) -> None:
        check_reason(self.reason)


def serialise(value: Any) -> str:
    """result.output for a handler's return value. Raises InvalidResultError."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise InvalidResultError(
                "handler returned bytes that are not UTF-8; return text (base64, say)"
            ) from None
    try:
        # Models, dataclasses, datetimes and the like as pydantic dumps them in JSON mode.
        return json.dumps(to_jsonable_python(value), allow_nan=False)
    except (PydanticSerializationError, TypeError, ValueError) as e:
        raise InvalidResultError(
            f"handler returned a value that cannot be serialised to JSON "
            f"({type(value).__name__}): {e}"
        ) from None


def handler_outcome(value: Any) -> Outcome:
    """Outcome of an SDK handler that returned `value` (a Result or the output itself)."""
    result = value if isinstance(value, Result) else Result(value)
    try:
        output = serialise(result.output)
    except InvalidResultError as e:
        return _invalid(e, "", None)
    try:
        check_size(output, "the handler's return value")
    except ResultTooLargeError as e:
        kept = Oversized(output, result.message[:MAX_MESSAGE], result.reason)
        return replace(_invalid(e, "", None), oversized=kept)
    return Outcome(
        True,
        TaskResult(output=output, message=result.message[:MAX_MESSAGE], reason=result.reason),
    )


def report(task: Task, fence: Fence | Unclaimed, now: datetime, outcome: Outcome) -> Patch:
    """The write that ends a lease with what the work returned: its result, or a failed
    attempt (retried or not, as the outcome says)."""
    if outcome.succeeded:
        return protocol.succeed(task, fence, now, outcome.result)
    return protocol.fail_attempt(
        task,
        fence,
        now,
        outcome="Failed",
        reason=outcome.reason,
        result=outcome.result,
        retry=outcome.retry,
        backoff_seconds=outcome.retry_delay,
    )


def own_cancellation(error: BaseException) -> bool:
    """Whether `error` is the current task being cancelled (not something work raised)."""
    task = asyncio.current_task()
    return isinstance(error, asyncio.CancelledError) and task is not None and task.cancelling() > 0


def error_outcome(exc: BaseException, traceback_text: str) -> Outcome:
    """Outcome of an SDK handler that raised (anything: SystemExit included).

    A TaskError supplies the message and reason and says whether to retry.
    """
    retry, delay = not isinstance(exc, NonRetryableError), None
    if isinstance(exc, RetryableError):
        delay = exc.delay
    if isinstance(exc, TaskError):
        message, reason = exc.message or type(exc).__name__, exc.reason
    else:
        message, reason = f"{type(exc).__name__}: {_text(exc)}", REASON_HANDLER_ERROR
    result = TaskResult(
        output=clip_output(traceback_text), message=message[:MAX_MESSAGE], reason=reason
    )
    return Outcome(False, result, retry=retry, retry_delay=delay)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ raises still fails only its task
        return "<unprintable>"


def invalid_params_outcome(error: ValueError) -> Outcome:
    """Params the handler's annotation refuses: no retry can fix them."""
    message = f"invalid params: {error}"[:MAX_MESSAGE]
    result = TaskResult(message=message, reason=REASON_INVALID_PARAMS)
    return Outcome(False, result, retry=False)


def start_failed_outcome(error: OSError) -> Outcome:
    """The command could not be started (not found, not executable)."""
    message = f"could not start the command: {error}"[:MAX_MESSAGE]
    return Outcome(False, TaskResult(message=message, reason=REASON_START_FAILED))


def _invalid(error: InvalidResultError, output: str, exit_code: int | None) -> Outcome:
    result = TaskResult(
        exit_code=exit_code,
        output=output,
        message=str(error)[:MAX_MESSAGE],
        reason=error.reason,
    )
    return Outcome(False, result)
