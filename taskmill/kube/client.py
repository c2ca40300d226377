"""Requests and watches over one pooled aiohttp session."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict

from taskmill.kube.config import Connection
from taskmill.kube.observer import Observer
from taskmill.kube.ratelimit import TokenBucket

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
# The API server stores objects up to 1.5 MiB (etcd's request limit); a watch event is
# one such object as one JSON line. Anything far beyond is not an API server talking.
MAX_EVENT_BYTES = 16 * 1024 * 1024
READ_CHUNK = 256 * 1024
# 429s are retried while the request's own timeout allows; without a Retry-After
# header the API server's usual hint is one second.
DEFAULT_RETRY_AFTER = 1.0
# Defaults of the client-side rate limit: well above what one operator or provider
# needs at the API server's own write limit on a small control plane, so it only stops
# a runaway loop from flooding the API server.
DEFAULT_QPS = 200.0
DEFAULT_BURST = 400


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(
        self, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after  # seconds the server asked us to wait (429, 503)

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


class EventTooLargeError(ValueError):
    """A watch line beyond MAX_EVENT_BYTES: the stream is not a sane watch."""


class Kube:
    """Async API client. Use as `async with Kube(conn) as kube:`.

    Every request, watches included, takes a token from a client-side bucket (`qps`
    per second, bursts of `burst`), as client-go's clients do. `max_request_seconds`
    caps every request's timeout: a component sets it below the lease it must renew.
    `on_heard` is called whenever the API server answers (below 500) or a watch
    delivers: the operator's judge of whether it can see the API server at all.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        user_agent: str = "taskmill",
        limit: int = 64,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        max_request_seconds: float | None = None,
        on_heard: Callable[[], None] | None = None,
        observer: Observer | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = conn
        self._user_agent = user_agent
        self._limit = limit
        self._bucket = TokenBucket(qps, burst, monotonic)
        self._max_request_seconds = max_request_seconds
        self._on_heard = on_heard
        self._observer = observer
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

    def _headers(self, content_type: str | None = None) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        auth = self._conn.authorization()
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        if self._conn.impersonate is not None:
            headers.extend(self._conn.impersonate.headers())  # Impersonate-Group repeats
        return headers

    def _heard(self, status: int) -> None:
        if status < 500 and self._on_heard is not None:
            self._on_heard()

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
        """One request; `request_timeout` bounds it whole, throttling and 429 retries
        included, so a caller protecting a lease or deadline can rely on it."""
        if self._max_request_seconds is not None:
            request_timeout = min(request_timeout, self._max_request_seconds)
        async with asyncio.timeout(request_timeout):
            while True:
                try:
                    return await self._request_once(method, path, params, body, content_type)
                except ApiError as e:
                    if e.status != 429:
                        raise
                    # The request was refused before it was processed (API Priority and
                    # Fairness): sending it again is safe, whatever the verb.
                    await asyncio.sleep(e.retry_after or DEFAULT_RETRY_AFTER)

    async def _request_once(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: Any,
        content_type: str,
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        await self._bucket.take()
        try:
            async with self.session.request(
                method,
                path,
                params=params,
                data=data,
                headers=self._headers(content_type if data is not None else None),
            ) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            self._observe(method, path, 0)
            raise
        self._observe(method, path, resp.status)
        self._heard(resp.status)
        if resp.status >= 400:
            raise _error(resp.status, text, resp.headers.get("Retry-After"))
        return json.loads(text) if text else {}

    def _observe(self, method: str, path: str, code: int, *, watch: bool = False) -> None:
        if self._observer is not None:
            self._observer.request(method, path, code, watch=watch)

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
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[WatchEvent]:
        """One watch request from resource_version; ends when the server closes it.

        `on_open` is called once the server accepted the watch: from then on every
        change is delivered, even if none happens for a while.

        Raises GoneError when the resourceVersion has expired: list again and resume.
        Events of any size the API server can store arrive whole (aiohttp's own line
        iteration gives up at 128 KiB).
        """
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        await self._bucket.take()
        async with self.session.get(
            path,
            params=query,
            headers=self._headers(),
            # A backstop only: the server ends the watch at timeout_seconds, and callers
            # (the reflector) restart a watch that goes silent much sooner.
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as resp:
            self._observe("GET", path, resp.status, watch=True)
            self._heard(resp.status)
            if resp.status >= 400:
                raise _error(resp.status, await resp.text(), resp.headers.get("Retry-After"))
            if on_open is not None:
                on_open()
            async for line in json_lines(resp.content):
                self._heard(200)
                event = json.loads(line)
                obj = event.get("object", {})
                if event.get("type") == "ERROR":
                    raise _error(int(obj.get("code", 500)), json.dumps(obj), None)
                yield WatchEvent(event["type"], obj)


async def json_lines(
    content: aiohttp.StreamReader, max_bytes: int = MAX_EVENT_BYTES
) -> AsyncIterator[bytes]:
    """The non-empty lines of a stream, whatever their length up to `max_bytes`."""
    buffer = bytearray()
    async for chunk in content.iter_chunked(READ_CHUNK):
        start = len(buffer)
        buffer += chunk
        end = buffer.find(b"\n", start)
        begin = 0
        while end >= 0:
            line = bytes(buffer[begin:end])
            if line.strip():
                yield line
            begin = end + 1
            end = buffer.find(b"\n", begin)
        del buffer[:begin]
        if len(buffer) > max_bytes:
            raise EventTooLargeError(f"a watch line exceeds {max_bytes} bytes")
    if buffer.strip():
        yield bytes(buffer)


def _error(status: int, text: str, retry_after: str | None) -> ApiError:
    try:
        body = json.loads(text)
        reason, message = str(body.get("reason", "")), str(body.get("message", text))
    except (ValueError, AttributeError):
        reason, message = "", text
    cls = GoneError if status == 410 else ApiError
    return cls(status, reason, message, _seconds(retry_after))


def _seconds(header: str | None) -> float | None:
    """Retry-After as seconds (the API server sends an integer)."""
    try:
        return None if header is None else max(0.0, float(header))
    except ValueError:
        return None
