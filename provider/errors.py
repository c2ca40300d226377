"""Exceptions a handler raises to say what should happen to its task.

Anything else a handler raises fails the attempt, which the job's retry policy (and
the handler's own, see options.RetryPolicy) then retries or ends.
"""

import math
import re

MAX_REASON = 64
REASON_NON_RETRYABLE = "NonRetryable"
REASON_RETRYABLE = "Retryable"
# The longest delay a handler may ask for before its retry.
MAX_RETRY_DELAY = 24 * 3600.0
_REASON_PATTERN = r"[A-Z][A-Za-z0-9]*"


def valid_reason(reason: str) -> bool:
    """A result reason is CamelCase and short, like a Kubernetes condition reason."""
    return len(reason) <= MAX_REASON and re.fullmatch(_REASON_PATTERN, reason) is not None


def check_reason(reason: str) -> str:
    if not valid_reason(reason):
        raise ValueError(
            f"reason {reason!r} must be CamelCase (letters and digits, starting with a "
            f"capital), at most {MAX_REASON} characters"
        )
    return reason


class TaskError(Exception):
    """A failure whose message and reason the handler chose (result.message, .reason)."""

    def __init__(self, message: str = "", *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = check_reason(reason)


class NonRetryableError(TaskError):
    """Fail the task now, whatever attempts are left: a retry cannot help (bad input,
    a missing object, a permission only a person can grant)."""

    def __init__(self, message: str = "", *, reason: str = REASON_NON_RETRYABLE) -> None:
        super().__init__(message, reason=reason)


class RetryableError(TaskError):
    """Fail this attempt and retry, after `delay` seconds instead of the job's backoff
    (a rate limit's Retry-After, say). Attempts are still counted: the job's
    maxAttempts ends the task all the same."""

    def __init__(
        self, message: str = "", *, delay: float | None = None, reason: str = REASON_RETRYABLE
    ) -> None:
        if delay is not None and not (math.isfinite(delay) and 0 <= delay <= MAX_RETRY_DELAY):
            raise ValueError(f"retry delay must be between 0 and {MAX_RETRY_DELAY:g} seconds")
        super().__init__(message, reason=reason)
        self.delay = delay


class TaskStopped(Exception):  # noqa: N818 - not an error of the work: it was told to stop
    """Raised by ctx.check() and ctx.sleep() once the work must stop (cancelled, timed
    out, lease lost, provider shutting down). Let it propagate: what is written for a
    stopped task does not depend on how the handler ends."""
