"""An in-memory API server behind the `taskmill.kube.KubeApi` Protocol, for unit tests.

Objects live in a dict keyed by their object path; writes bump a resourceVersion
and are announced to open watches; JSON Patch `test` ops fail with 422 as the API
server's do. Tests steer it with `fail` (raise on the next matching request) and
`hold` (block matching requests until released), and read `requests` to count
what a component sent. Self-contained on purpose: any component's tests may use it.
"""

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from taskmill.kube import ApiError, KubeApi, WatchEvent
from taskmill.kube.client import JSON_PATCH, MERGE_PATCH


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None
    timeout: float = 30


Matcher = Callable[[Request], bool]


@dataclass
class _Watcher:
    collection: str
    params: dict[str, str]
    queue: "asyncio.Queue[WatchEvent]" = field(default_factory=asyncio.Queue)


class FakeKube:
    """Conforms to KubeApi (checked below); a subresource path writes its parent object."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self._version = 0
        self._failures: list[tuple[Matcher, Exception]] = []
        self._holds: list[tuple[Matcher, asyncio.Event]] = []
        self._watchers: list[_Watcher] = []

    # --- steering --------------------------------------------------------------

    def fail(self, matcher: Matcher, error: Exception) -> None:
        """Raise `error` for the next request `matcher` accepts (once)."""
        self._failures.append((matcher, error))

    def hold(self, matcher: Matcher) -> asyncio.Event:
        """Block every request `matcher` accepts until the returned event is set."""
        released = asyncio.Event()
        self._holds.append((matcher, released))
        return released

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` at `path` as if someone else wrote it (watchers are told)."""
        return self._store(path, copy.deepcopy(obj))

    def writes(self, method: str = "PATCH") -> list[Request]:
        return [r for r in self.requests if r.method == method]

    # --- KubeApi ---------------------------------------------------------------

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
        request = Request(method, path, copy.deepcopy(body), request_timeout)
        self.requests.append(request)
        await self._steer(request, request_timeout)
        if method == "GET":
            return self._get(path) if params is None else self._list(path, params)
        if method == "POST":
            return self._create(path, body)
        if method == "DELETE":
            return self._delete(path, body)
        if method == "PATCH" and content_type == JSON_PATCH:
            return self._json_patch(path, body)
        if method == "PATCH" and content_type == MERGE_PATCH:
            return self._merge_patch(path, body)
        raise ApiError(405, "MethodNotAllowed", f"{method} {content_type}")

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

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
        request = Request("WATCH", path, timeout=timeout_seconds)
        self.requests.append(request)
        await self._steer(request, timeout_seconds)
        watcher = _Watcher(path, params)
        self._watchers.append(watcher)
        try:
            while True:
                yield await watcher.queue.get()
        finally:
            self._watchers.remove(watcher)

    # --- the server ------------------------------------------------------------

    async def _steer(self, request: Request, seconds: float) -> None:
        for matcher, released in list(self._holds):
            if matcher(request) and not released.is_set():
                try:
                    await asyncio.wait_for(released.wait(), seconds)
                except TimeoutError:
                    raise TimeoutError(f"{request.method} {request.path}: held") from None
        for i, (matcher, error) in enumerate(self._failures):
            if matcher(request):
                del self._failures[i]
                raise error

    def _get(self, path: str) -> dict[str, Any]:
        return copy.deepcopy(self._existing(path))

    def _list(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        items = [
            copy.deepcopy(obj)
            for key, obj in self.objects.items()
            if key.rsplit("/", 1)[0] == path and _selected(obj, params)
        ]
        return {"items": items, "metadata": {"resourceVersion": str(self._version)}}

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f"{key} already exists")
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = f"uid-{self._version + 1}"
        return copy.deepcopy(self._store(key, obj))

    def _delete(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        obj = self._existing(path)
        preconditions = (body or {}).get("preconditions") or {}
        for field_name, wanted in preconditions.items():
            if wanted != obj["metadata"].get(field_name):
                raise ApiError(409, "Conflict", f"precondition failed: {field_name}")
        del self.objects[self._key(path)]
        self._announce("DELETED", self._key(path), obj)
        return copy.deepcopy(obj)

    def _json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        obj = copy.deepcopy(self._existing(path))
        for op in ops:
            _apply(obj, op)
        return copy.deepcopy(self._store(self._key(path), obj))

    def _merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(self._existing(path))
        _merge(obj, body)
        return copy.deepcopy(self._store(self._key(path), obj))

    def _key(self, path: str) -> str:
        return path[: -len("/status")] if path.endswith("/status") else path

    def _existing(self, path: str) -> dict[str, Any]:
        obj = self.objects.get(self._key(path))
        if obj is None:
            raise ApiError(404, "NotFound", f"{path} not found")
        return obj

    def _store(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        event = "MODIFIED" if key in self.objects else "ADDED"
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._version)
        old = self.objects.get(key)
        self.objects[key] = obj
        self._announce(event, key, obj, old)
        return obj

    def _announce(
        self, event: str, key: str, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> None:
        """Tell watchers, as the API server does for selectors: an object that stops
        matching is DELETED for that watch, one that starts matching is ADDED."""
        collection = key.rsplit("/", 1)[0]
        for watcher in self._watchers:
            if watcher.collection != collection:
                continue
            matches = event != "DELETED" and _selected(obj, watcher.params)
            last = obj if event == "DELETED" else old
            matched = last is not None and _selected(last, watcher.params)
            if matches:
                kind = "MODIFIED" if matched else "ADDED"
                watcher.queue.put_nowait(WatchEvent(kind, copy.deepcopy(obj)))
            elif matched and last is not None:
                # Leaving the selection reads as a deletion carrying the last matching state.
                watcher.queue.put_nowait(WatchEvent("DELETED", copy.deepcopy(last)))


def _selected(obj: dict[str, Any], params: dict[str, str]) -> bool:
    fields = params.get("fieldSelector", "")
    labels = params.get("labelSelector", "")
    for term in filter(None, fields.split(",")):
        path, _, value = term.partition("=")
        if str(_dig(obj, path.split("."))) != value:
            return False
    obj_labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, re.split(r",(?![^(]*\))", labels)):
        match = re.fullmatch(r"\s*(\S+)\s+in\s+\((.*)\)\s*", term)
        if match:
            if obj_labels.get(match[1]) not in match[2].split(","):
                return False
        else:
            key, _, value = term.partition("=")
            if obj_labels.get(key) != value:
                return False
    return True


def _dig(obj: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(key, "")
    return obj


def _apply(obj: dict[str, Any], op: dict[str, Any]) -> None:
    """One JSON Patch operation (RFC 6902: test, add, replace, remove)."""
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in op["path"].split("/")[1:]
    ]
    target: Any = obj
    for part in parents:
        if not isinstance(target, dict) or part not in target:
            raise ApiError(422, "Invalid", f"path {op['path']} does not exist")
        target = target[part]
    kind = op["op"]
    if kind == "test":
        if not isinstance(target, dict) or target.get(last) != op["value"]:
            raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
    elif kind in ("add", "replace"):
        if kind == "replace" and last not in target:
            raise ApiError(422, "Invalid", f"replace: {op['path']} does not exist")
        target[last] = copy.deepcopy(op["value"])
    elif kind == "remove":
        target.pop(last, None)
    else:
        raise ApiError(422, "Invalid", f"unsupported op {kind}")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _conforms(fake: FakeKube) -> KubeApi:
    return fake  # mypy checks FakeKube against the Protocol here
