"""Requests and watches over one pooled aiohttp session."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from taskmill.kube.config import Connection

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def conflict(self) -> bool:
        """409 (resourceVersion) or 422 (a failed JSON Patch test / CEL rule)."""
        return self.status in (409, 422)


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: dict[str, Any]


class GoneError(ApiError):
    """410: the resourceVersion is too old; the caller must list again."""


class Kube:
    """Async API client. Use as `async with Kube(conn) as kube:`."""

    def __init__(self, conn: Connection, *, user_agent: str = "taskmill", limit: int = 64) -> None:
        self._conn = conn
        self._user_agent = user_agent
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Kube":
        connector = aiohttp.TCPConnector(ssl=self._conn.ssl_context, limit=self._limit)
        self._session = aiohttp.ClientSession(
            base_url=self._conn.server,
            connector=connector,
            headers={"User-Agent": self._user_agent, "Accept": "application/json"},
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {}
        auth = self._conn.authorization()
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Kube is not open: use `async with Kube(conn)`")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float = 30,
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method,
            path,
            params=params,
            data=data,
            headers=self._headers(content_type if data is not None else None),
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _error(resp.status, text)
            return json.loads(text) if text else {}

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("DELETE", path, body=body)

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=ops, content_type=JSON_PATCH)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int = 300, **params: str
    ) -> AsyncIterator[WatchEvent]:
        """One watch request from resource_version; ends when the server closes it.

        Raises GoneError when the resourceVersion has expired: list again and resume.
        """
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        async with self.session.get(
            path,
            params=query,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as resp:
            if resp.status >= 400:
                raise _error(resp.status, await resp.text())
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object", {})
                if event.get("type") == "ERROR":
                    raise _error(int(obj.get("code", 500)), json.dumps(obj))
                yield WatchEvent(event["type"], obj)


def _error(status: int, text: str) -> ApiError:
    try:
        body = json.loads(text)
        reason, message = str(body.get("reason", "")), str(body.get("message", text))
    except (ValueError, AttributeError):
        reason, message = "", text
    cls = GoneError if status == 410 else ApiError
    return cls(status, reason, message)
