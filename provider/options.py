"""Per-handler options: concurrency, a timeout and a retry policy for one capability.

Options are checked when the handler is registered, so a contradiction stops the
provider before it serves anything instead of failing tasks later.
"""

import dataclasses
import math
from dataclasses import dataclass

from taskmill.provider.errors import MAX_RETRY_DELAY, RetryableError
from taskmill.provider.results import Outcome


@dataclass(frozen=True)
class RetryPolicy:
    """What the handler knows about retrying its failures, on top of the job's policy.

    max_attempts:    at most this many attempts, however many the job allows (the
                     job's retry.maxAttempts still ends the task first if lower).
    backoff_seconds: the delay before a retry, instead of the job's backoffSeconds
                     (a RetryableError's own delay still wins).
    non_retryable:   exception types that fail the task at once, like NonRetryableError.
    """

    max_attempts: int | None = None
    backoff_seconds: float | None = None
    non_retryable: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("retry max_attempts must be at least 1")
        backoff = self.backoff_seconds
        if backoff is not None and not (math.isfinite(backoff) and 0 <= backoff <= MAX_RETRY_DELAY):
            raise ValueError(f"retry backoff_seconds must be between 0 and {MAX_RETRY_DELAY:g}")
        if self.max_attempts == 1 and backoff is not None:
            raise ValueError("retry max_attempts=1 never retries, so backoff_seconds means nothing")
        for kind in self.non_retryable:
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise ValueError(f"retry non_retryable lists {kind!r}, not an exception type")
            if issubclass(kind, RetryableError):
                raise ValueError(
                    f"retry non_retryable lists {kind.__name__}, a RetryableError: raising it "
                    "asks for a retry"
                )

    def apply(self, outcome: Outcome, error: BaseException | None, attempt: int) -> Outcome:
        """The outcome of a failed attempt (number `attempt`, from 1) under this policy."""
        if outcome.succeeded or not outcome.retry:
            return outcome
        listed = error is not None and isinstance(error, self.non_retryable)
        if listed and not isinstance(error, RetryableError):
            return dataclasses.replace(outcome, retry=False)
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return dataclasses.replace(outcome, retry=False)
        if outcome.retry_delay is None and self.backoff_seconds is not None:
            return dataclasses.replace(outcome, retry_delay=self.backoff_seconds)
        return outcome


@dataclass(frozen=True)
class HandlerOptions:
    """concurrency: at most this many tasks of the capability at once, within the
    provider's concurrency (a GPU model next to cheap work, say); None: no own limit.
    timeout: seconds one attempt may run before the handler is told to stop
    (ctx.cancelled) and the attempt fails with reason HandlerTimeout; None: no limit
    beyond the task's own timeoutSeconds."""

    concurrency: int | None = None
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
