"""An in-memory API server behind the client's surface (`taskmill.kube.KubeApi`), for the
unit tests of every component.

It keeps objects by path and answers like the real one where the operator and the
providers depend on it: resourceVersions that increase, defaulted status for taskmill's
kinds, 404 and 409 on get, create and delete (with preconditions), JSON Patch with `test`
ops (422 when one fails), merge patch with a resourceVersion precondition (409), list and
watch with field and label selectors, writes announced to open watches. A subresource
path (`.../status`) writes its parent object.

Tests steer it with `fail` (refuse matching requests, a number of times or always) and
`hold` (block matching requests until released); `on(verb, prefix)` builds the common
matcher. Every request is recorded in `requests`. It is no API server: no schema, no CEL
rules, no admission; behaviour that depends on those is tested against the real
kube-apiserver (tests/integration).
"""

import asyncio
import copy
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from taskmill.api import BatchJobStatus, TaskStatus
from taskmill.kube import ApiError, KubeApi, WatchEvent
from taskmill.kube.client import JSON_PATCH, MERGE_PATCH

Json = dict[str, Any]
# What the CRDs default a new object's status to.
STATUS_DEFAULTS: dict[str, Callable[[], Json]] = {
    "Task": lambda: TaskStatus().wire(),
    "BatchJob": lambda: BatchJobStatus(observed_generation=0).wire(),
}


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it. `verb` is one of get, list, create, delete,
    json_patch, merge_patch, watch."""

    verb: str
    path: str
    body: Any = None
    timeout: float = 30


Matcher = Callable[[Request], bool]


def on(verb: str, prefix: str = "") -> Matcher:
    """Matches requests with `verb` on paths starting with `prefix`."""
    return lambda request: request.verb == verb and request.path.startswith(prefix)


@dataclass
class _Failure:
    matches: Matcher
    error: BaseException
    times: int | None  # None: always


@dataclass
class _Watcher:
    collection: str
    params: dict[str, str]
    queue: "asyncio.Queue[WatchEvent]" = field(default_factory=asyncio.Queue)


class FakeKube:
    def __init__(self, *, created: str = "2026-01-01T12:00:00Z") -> None:
        self.objects: dict[str, Json] = {}
        self.requests: list[Request] = []
        self._version = 0
        self._created = created  # creationTimestamp of what it creates
        self._failures: list[_Failure] = []
        self._holds: list[tuple[Matcher, asyncio.Event]] = []
        self._watchers: list[_Watcher] = []

    # --- steering and reading ----------------------------------------------------

    def fail(self, matches: Matcher, error: BaseException, times: int | None = 1) -> None:
        """Raise `error` for the next `times` requests `matches` accepts (None: for all)."""
        self._failures.append(_Failure(matches, error, times))

    def hold(self, matches: Matcher) -> asyncio.Event:
        """Block every request `matches` accepts until the returned event is set."""
        released = asyncio.Event()
        self._holds.append((matches, released))
        return released

    def put(self, collection: str, body: Json) -> Json:
        """Store `body` in `collection` as if someone else wrote it (watchers are told)."""
        key = f"{collection}/{body['metadata']['name']}"
        return self._store(key, self._admitted(key, copy.deepcopy(body)))

    def sent(self, verb: str, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if on(verb, prefix)(r)]

    def count(self, verb: str, prefix: str = "") -> int:
        return len(self.sent(verb, prefix))

    def items(self, collection: str) -> list[Json]:
        return [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == collection]

    # --- KubeApi -----------------------------------------------------------------

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
        verb = _verb(method, content_type, params)
        await self._enter(Request(verb, path, copy.deepcopy(body), request_timeout))
        match verb:
            case "get":
                return copy.deepcopy(self._existing(path))
            case "list":
                return self._list(path, params or {})
            case "create":
                return self._create(path, body)
            case "delete":
                return self._delete(path, body)
            case "json_patch":
                return self._json_patch(path, body)
            case _:
                return self._merge_patch(path, body)

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
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[WatchEvent]:
        await self._enter(Request("watch", path, timeout=timeout_seconds))
        watcher = _Watcher(path, params)
        self._watchers.append(watcher)
        if on_open is not None:
            on_open()  # from here on every write is announced to this watch
        try:
            while True:
                yield await watcher.queue.get()
        finally:
            self._watchers.remove(watcher)

    # --- the server --------------------------------------------------------------

    async def _enter(self, request: Request) -> None:
        """Record `request`, then hold or refuse it as the test steered."""
        self.requests.append(request)
        for matches, released in list(self._holds):
            if matches(request) and not released.is_set():
                try:
                    await asyncio.wait_for(released.wait(), request.timeout)
                except TimeoutError:
                    raise TimeoutError(f"{request.verb} {request.path}: held") from None
        for failure in self._failures:
            if failure.matches(request):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times == 0:
                        self._failures.remove(failure)
                raise failure.error

    def _list(self, path: str, params: dict[str, str]) -> Json:
        items = [copy.deepcopy(o) for o in self.items(path) if _selected(o, params)]
        return {"items": items, "metadata": {"resourceVersion": str(self._version)}}

    def _create(self, path: str, body: Json) -> Json:
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f"{key} already exists")
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = str(uuid.uuid4())  # the server's, whatever was sent
        return copy.deepcopy(self._store(key, self._admitted(key, obj)))

    def _delete(self, path: str, body: Json | None) -> Json:
        obj = self._existing(path)
        for key, wanted in ((body or {}).get("preconditions") or {}).items():
            if obj["metadata"].get(key) != wanted:
                raise ApiError(409, "Conflict", f"precondition failed: {key}")
        del self.objects[_key(path)]
        self._announce("DELETED", _key(path), obj)
        return copy.deepcopy(obj)

    def _json_patch(self, path: str, ops: list[Json]) -> Json:
        obj = copy.deepcopy(self._existing(path))
        for op in ops:
            _apply(obj, op)
        return copy.deepcopy(self._store(_key(path), obj))

    def _merge_patch(self, path: str, body: Json) -> Json:
        current = self._existing(path)
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return copy.deepcopy(self._store(_key(path), _merge(copy.deepcopy(current), body)))

    def _existing(self, path: str) -> Json:
        obj = self.objects.get(_key(path))
        if obj is None:
            raise ApiError(404, "NotFound", f"{path} not found")
        return obj

    def _admitted(self, key: str, obj: Json) -> Json:
        """What the API server fills in on a new object, where the body has none. A status
        that comes with the body is kept as written: tests state exactly what they mean."""
        meta = obj.setdefault("metadata", {})
        parts = key.split("/")
        if "namespaces" in parts:
            meta.setdefault("namespace", parts[parts.index("namespaces") + 1])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", self._created)
        default = STATUS_DEFAULTS.get(obj.get("kind", ""))
        if default is not None and not obj.get("status"):
            obj["status"] = default()
        return obj

    def _store(self, key: str, obj: Json) -> Json:
        self._version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._version)
        old = self.objects.get(key)
        self.objects[key] = obj
        self._announce("ADDED" if old is None else "MODIFIED", key, obj, old)
        return obj

    def _announce(self, event: str, key: str, obj: Json, old: Json | None = None) -> None:
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


def _verb(method: str, content_type: str, params: dict[str, str] | None) -> str:
    match method:
        case "GET":
            return "get" if params is None else "list"
        case "POST":
            return "create"
        case "DELETE":
            return "delete"
        case "PATCH" if content_type == JSON_PATCH:
            return "json_patch"
        case "PATCH" if content_type == MERGE_PATCH:
            return "merge_patch"
    raise ApiError(405, "MethodNotAllowed", f"{method} {content_type}")


def _key(path: str) -> str:
    return path.removesuffix("/status")


def _selected(obj: Json, params: dict[str, str]) -> bool:
    fields = params.get("fieldSelector", "")
    labels = params.get("labelSelector", "")
    for term in filter(None, fields.split(",")):
        path, _, value = term.partition("=")
        if str(_dig(obj, path.split("."))) != value:
            return False
    obj_labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, re.split(r",(?![^(]*\))", labels)):
        if not _label_term_holds(term.strip(), obj_labels):
            return False
    return True


def _label_term_holds(term: str, labels: dict[str, str]) -> bool:
    """One term of a label selector: `k in (a,b)`, `k=v`, `k!=v`, `k` or `!k`."""
    match = re.fullmatch(r"(\S+)\s+in\s+\((.*)\)", term)
    if match:
        return labels.get(match[1]) in match[2].split(",")
    if term.startswith("!"):
        return term[1:] not in labels
    if "!=" in term:
        key, value = term.split("!=", 1)
        return labels.get(key) != value
    if "=" in term:
        key, _, value = term.partition("=")
        return labels.get(key) == value
    return term in labels


def _dig(obj: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(key, "")
    return obj


_MISSING = object()


def _apply(doc: Json, op: Json) -> None:
    """One RFC 6902 operation (test, add, replace, remove) on object members."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = doc
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            raise ApiError(422, "Invalid", f"path {op['path']} does not exist")
        node = node[part]
    if not isinstance(node, dict):
        raise ApiError(422, "Invalid", f"{op['path']}: not an object")
    match op["op"]:
        case "test":
            if node.get(last, _MISSING) != op["value"]:
                raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
        case "replace" if last not in node:
            raise ApiError(422, "Invalid", f"replace: {op['path']} does not exist")
        case "add" | "replace":
            node[last] = copy.deepcopy(op["value"])
        case "remove":
            node.pop(last, None)
        case other:
            raise ApiError(422, "Invalid", f"unsupported op {other}")


def _merge(target: Json, patch: Json) -> Json:
    """RFC 7386 JSON merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _conforms(kube: FakeKube) -> KubeApi:
    return kube  # mypy checks FakeKube against the Protocol here
