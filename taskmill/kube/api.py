"""The client's surface as typed Protocols.

Components take a `KubeApi` (or the narrower `Requests` / `ListWatch` they need), not a
`Kube`, so unit tests drive them with fakes that mypy checks against the real client's
signatures (tests/fakes).
"""

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from taskmill.kube.client import WatchEvent


class Requests(Protocol):
    """Any one request."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float = 30,
    ) -> dict[str, Any]: ...


class ListWatch(Protocol):
    """The two calls a reflector needs."""

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[WatchEvent]: ...


class KubeApi(Requests, ListWatch, Protocol):
    async def get(self, path: str) -> dict[str, Any]: ...

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]: ...

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]: ...

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...
