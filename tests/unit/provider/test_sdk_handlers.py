"""Handlers of any shape, typed params, options and errors, run as a provider runs them
(through run_local: the SDK's own test path)."""

import asyncio
import functools
import re
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel, Field
from taskmill.provider.config import ProviderConfig
from taskmill.provider.context import Context
from taskmill.provider.errors import NonRetryableError, RetryableError
from taskmill.provider.handlers import Handler, register
from taskmill.provider.options import HandlerOptions, RetryPolicy
from taskmill.provider.results import Result
from taskmill.provider.sdk import Provider
from taskmill.provider.testing import run_local


class Items(BaseModel):
    items: list[str] = Field(min_length=1)
    scale: float = 1.0


class Scored(BaseModel):
    scores: dict[str, float]


async def score(params: Items, ctx: Context) -> Scored:
    return Scored(scores={item: len(item) * params.scale for item in params.items})


def test_typed_params_are_validated_and_a_model_result_is_serialised() -> None:
    run = run_local(score, {"items": ["ab", "c"], "scale": 2})
    assert run.succeeded
    assert run.json() == {"scores": {"ab": 4.0, "c": 2.0}}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"items": []}, "List should have at least 1 item"),
        ({"scale": 2}, "items\n  Field required"),
        ({"items": ["a"], "scale": "big"}, "scale\n  Input should be a valid number"),
    ],
)
def test_invalid_params_fail_the_task_without_retry_with_pydantics_message(
    params: dict[str, Any], says: str
) -> None:
    run = run_local(score, params)
    assert (run.succeeded, run.reason, run.retry) == (False, "InvalidParams", False)
    assert run.message.startswith("invalid params: 1 validation error for Items")
    assert says in run.message


async def async_two(params: dict[str, Any], ctx: Context) -> Any:
    return ["async", ctx.name]


class AsyncCallable:
    async def __call__(self, params: dict[str, Any], ctx: Context) -> Any:
        return ["object", params["n"]]


class Model:
    def __init__(self) -> None:
        self.weight = 3

    async def predict(self, params: dict[str, int]) -> Any:
        return params["n"] * self.weight


async def scaled(factor: int, params: dict[str, Any], ctx: Context) -> Any:
    return params["n"] * factor


def sync_one(params: dict[str, Any]) -> Any:
    return threading.current_thread().name


@pytest.mark.parametrize(
    ("handler", "output", "is_async"),
    [
        (async_two, '["async", "local-0"]', True),
        (AsyncCallable(), '["object", 2]', True),
        (Model().predict, "6", True),
        (functools.partial(scaled, 10), "20", True),
        (sync_one, "task-local-0", False),
        (lambda params, ctx: async_two(params, ctx), '["async", "local-0"]', False),
    ],
    ids=["async-def", "async-call-object", "bound-method", "partial", "sync-1-arg", "lambda"],
)
def test_handlers_of_any_shape(handler: Handler, output: str, is_async: bool) -> None:
    assert register(handler).is_async is is_async
    run = run_local(handler, {"n": 2})
    assert (run.succeeded, run.output) == (True, output)


def no_params() -> None:
    pass


def three(a: Any, b: Any, c: Any) -> None:
    pass


def keyword(params: Any, *, flag: bool) -> None:
    pass


def unresolved(params: "Missing", ctx: Context) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


def not_validatable(params: threading.Lock, ctx: Context) -> None:
    pass


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (no_params, "must take (params) or (params, ctx)"),
        (three, "must take (params) or (params, ctx)"),
        (keyword, "must take (params) or (params, ctx)"),
        (unresolved, "cannot resolve its annotations"),
        (not_validatable, "cannot be validated by pydantic"),
        ("score", "must be callable"),
    ],
)
def test_handlers_that_cannot_work_are_refused_at_registration(handler: Any, error: str) -> None:
    provider = Provider(namespace="ns", identity="p")
    with pytest.raises((ValueError, TypeError), match=re.escape(error)):
        provider.handler("cap")(handler)
    assert provider.handlers == {}


def test_a_capability_registered_twice_is_refused() -> None:
    provider = Provider(namespace="ns", identity="p")
    provider.handler("cap")(score)
    with pytest.raises(ValueError, match="already registered"):
        provider.handler("cap")(async_two)
    assert provider.handlers["cap"].fn is score


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"concurrency": 3}, "concurrency 3 for 'cap' is more than the provider's 2"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"timeout": float("inf")}, "timeout must be a positive"),
        ({"retry": {"max_attempts": 0}}, "max_attempts must be at least 1"),
        ({"retry": {"backoff_seconds": -1}}, "backoff_seconds must be between"),
        ({"retry": {"max_attempts": 1, "backoff_seconds": 5}}, "never retries"),
        ({"retry": {"non_retryable": (RetryableError,)}}, "a RetryableError"),
        ({"retry": {"non_retryable": ("ValueError",)}}, "not an exception type"),
    ],
)
def test_contradictory_options_are_refused(options: dict[str, Any], error: str) -> None:
    def build() -> None:
        retry = options.get("retry")
        Provider(namespace="ns", identity="p", concurrency=2).handler(
            "cap",
            concurrency=options.get("concurrency"),
            timeout=options.get("timeout"),
            retry=None if retry is None else RetryPolicy(**retry),
        )(score)

    with pytest.raises(ValueError, match=error):
        build()


def fails(params: dict[str, Any]) -> Any:
    raise {
        "value": ValueError("bad"),
        "key": KeyError("k"),
        "retry": RetryableError("busy", delay=7),
        "final": NonRetryableError("never"),
    }[params["raise"]]


@pytest.mark.parametrize(
    ("policy", "raise_", "attempt", "retry", "delay"),
    [
        (RetryPolicy(), "value", 1, True, None),  # the job's policy decides
        (RetryPolicy(backoff_seconds=3), "value", 1, True, 3),
        (RetryPolicy(backoff_seconds=3), "retry", 1, True, 7),  # the error's delay wins
        (RetryPolicy(non_retryable=(ValueError,)), "value", 1, False, None),
        (RetryPolicy(non_retryable=(ValueError,)), "key", 1, True, None),
        (RetryPolicy(non_retryable=(Exception,)), "retry", 1, True, 7),  # asked for a retry
        (RetryPolicy(max_attempts=2), "value", 1, True, None),
        (RetryPolicy(max_attempts=2), "value", 2, False, None),  # the handler's last attempt
        (RetryPolicy(max_attempts=2), "retry", 2, False, 7),
        (RetryPolicy(), "final", 1, False, None),
    ],
)
def test_retry_policy_per_handler(
    policy: RetryPolicy, raise_: str, attempt: int, retry: bool, delay: float | None
) -> None:
    run = run_local(fails, {"raise": raise_}, options=HandlerOptions(retry=policy), attempt=attempt)
    assert not run.succeeded
    assert (run.retry, run.retry_delay) == (retry, delay)


def test_a_handler_past_its_timeout_is_stopped_and_fails_the_attempt() -> None:
    def slow(params: dict[str, Any], ctx: Context) -> Any:
        ctx.sleep(30)  # wakes with TaskStopped at the timeout

    started = time.monotonic()
    run = run_local(slow, {}, options=HandlerOptions(timeout=0.2))
    assert time.monotonic() - started < 5
    assert (run.succeeded, run.reason, run.retry) == (False, "HandlerTimeout", True)
    assert run.message == "the handler ran past its 0.2 s timeout"


def test_a_timeout_abandons_a_handler_that_ignores_it() -> None:
    async def stubborn(params: dict[str, Any]) -> Any:
        await asyncio.sleep(30)

    run = run_local(stubborn, {}, options=HandlerOptions(timeout=0.1), kill_grace_seconds=0.1)
    assert (run.succeeded, run.reason) == (False, "HandlerTimeout")


def test_a_handler_sets_the_results_message_and_reason() -> None:
    def handler(params: dict[str, Any]) -> Result:
        return Result({"ok": True}, message="all scored", reason="Scored")

    run = run_local(handler, {})
    assert (run.succeeded, run.output, run.message, run.reason) == (
        True,
        '{"ok": true}',
        "all scored",
        "Scored",
    )


def test_registered_options_apply_in_run_local() -> None:
    provider = Provider(namespace="ns", identity="p")
    provider.handler("cap", retry=RetryPolicy(non_retryable=(ValueError,)))(fails)
    run = run_local(provider.handlers["cap"], {"raise": "value"})
    assert (run.retry, run.message) == (False, "ValueError: bad")


def test_per_handler_concurrency_reaches_the_provider_config() -> None:
    provider = Provider(namespace="ns", identity="p", concurrency=4)
    provider.handler("gpu.score", concurrency=1)(score)
    provider.handler("text.split")(sync_one)
    config = provider.config()
    assert (config.capabilities, config.concurrency) == (("gpu.score", "text.split"), 4)
    assert config.capability_concurrency == {"gpu.score": 1}


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"gpu": 3}, "must be between 1 and the provider's concurrency 2"),
        ({"gpu": 0}, "must be between 1"),
        ({"other": 1}, "which is not served"),
    ],
)
def test_capability_concurrency_is_checked_by_the_config(
    limits: dict[str, int], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        ProviderConfig(
            capabilities=("gpu",),
            identity="p",
            namespace="ns",
            concurrency=2,
            capability_concurrency=limits,
        )
