"""Provider setup and teardown hooks around serving (the agent itself replaced: what is
tested is the order of the hooks, not serving; tests/integration/provider/test_sdk.py
runs them in a real provider)."""

import asyncio
from typing import Any

import pytest
from taskmill.provider import sdk
from taskmill.provider.sdk import Provider


def provider_with_hooks(calls: list[str], *, failing: frozenset[str] = frozenset()) -> Provider:
    provider = Provider(namespace="ns", identity="p")
    provider.handler("cap")(lambda params: None)

    def hook(name: str, is_async: bool) -> Any:
        def sync() -> None:
            calls.append(name)
            if name in failing:
                raise RuntimeError(name)

        async def coro() -> None:
            sync()

        return coro if is_async else sync

    provider.setup(hook("setup-1", False))
    provider.setup(hook("setup-2", True))
    provider.teardown(hook("teardown-1", True))
    provider.teardown(hook("teardown-2", False))
    return provider


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    async def serve(*args: Any) -> None:
        calls.append("serve")

    monkeypatch.setattr(sdk, "serve", serve)
    return calls


def test_setups_before_serving_teardowns_after_in_reverse(served: list[str]) -> None:
    asyncio.run(provider_with_hooks(served).serve())
    assert served == ["setup-1", "setup-2", "serve", "teardown-2", "teardown-1"]


def test_a_failing_setup_stops_the_provider_before_it_serves(served: list[str]) -> None:
    with pytest.raises(RuntimeError, match="setup-1"):
        asyncio.run(provider_with_hooks(served, failing=frozenset({"setup-1"})).serve())
    assert served == ["setup-1"]


def test_a_failing_teardown_does_not_skip_the_others(
    served: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(provider_with_hooks(served, failing=frozenset({"teardown-2"})).serve())
    assert served[-2:] == ["teardown-2", "teardown-1"]
    assert "teardown" in caplog.text
