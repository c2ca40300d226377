"""An in-memory API server behind the client's surface (`taskmill.kube.KubeApi`).

It keeps objects by URL path and answers like the real one where the operator and the
providers depend on it: resourceVersions that increase, 404 and 409 on get, create and
delete (with preconditions), JSON Patch with `test` ops (422 when one fails), merge
patch with a resourceVersion precondition (409), and defaulted status for taskmill's
kinds. Requests are recorded, and any verb on any path can be made to fail.

It is no API server: no schema, no CEL rules, no watch. Behaviour that depends on
those is tested against the real kube-apiserver (tests/integration).
"""

import copy
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from taskmill.api import BatchJobStatus, TaskStatus
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.client import WatchEvent

Json = dict[str, Any]
# What the CRDs default a new object's status to.
STATUS_DEFAULTS: dict[str, Callable[[], Json]] = {
    "Task": lambda: TaskStatus().wire(),
    "BatchJob": lambda: BatchJobStatus(observed_generation=0).wire(),
}


@dataclass
class Failure:
    """Refuse `verb` on paths starting with `prefix`, `times` times (None: always)."""

    verb: str
    prefix: str
    error: ApiError
    times: int | None = None


class FakeKube:
    def __init__(self, *, created: str = "2026-01-01T12:00:00Z") -> None:
        self.objects: dict[str, Json] = {}
        self.requests: list[tuple[str, str]] = []  # (verb, path), in order
        self._failures: list[Failure] = []
        self._version = 0
        self._created = created

    # Test controls

    def fail(self, verb: str, prefix: str, error: ApiError, times: int | None = None) -> None:
        self._failures.append(Failure(verb, prefix, error, times))

    def put(self, path: str, body: Json) -> Json:
        """Store an object as if created at `path` (its collection), bypassing failures."""
        return self._store(f"{path}/{body['metadata']['name']}", body, new=True)

    def count(self, verb: str, prefix: str = "") -> int:
        return sum(1 for v, p in self.requests if v == verb and p.startswith(prefix))

    def items(self, collection: str) -> list[Json]:
        return [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == collection]

    # KubeApi

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
        raise NotImplementedError("FakeKube answers the typed verbs only")

    async def get(self, path: str) -> dict[str, Any]:
        self._enter("get", path)
        return copy.deepcopy(self._existing(path))

    async def list_objects(self, path: str, **params: str) -> dict[str, Any]:
        self._enter("list", path)
        items = [copy.deepcopy(o) for o in self.items(path)]
        return {"items": items, "metadata": {"resourceVersion": str(self._version)}}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("create", path)
        name = body["metadata"]["name"]
        if f"{path}/{name}" in self.objects:
            raise ApiError(409, "AlreadyExists", f'"{name}" already exists')
        return copy.deepcopy(self._store(f"{path}/{name}", body, new=True))

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self._enter("delete", path)
        current = self._existing(path)
        for key, value in ((body or {}).get("preconditions") or {}).items():
            if current["metadata"].get(key) != value:
                raise ApiError(409, "Conflict", f"precondition failed: {key}")
        return self.objects.pop(path)

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        self._enter("json_patch", path)
        target = _object_path(path)
        patched = copy.deepcopy(self._existing(target))
        for op in ops:
            _apply(patched, op)
        return copy.deepcopy(self._store(target, patched))

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("merge_patch", path)
        target = _object_path(path)
        current = self._existing(target)
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return copy.deepcopy(self._store(target, _merge(copy.deepcopy(current), body)))

    def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int = 300, **params: str
    ) -> AsyncIterator[WatchEvent]:
        raise NotImplementedError("FakeKube has no watch; feed the store directly")

    # Internals

    def _enter(self, verb: str, path: str) -> None:
        self.requests.append((verb, path))
        for failure in self._failures:
            if failure.verb == verb and path.startswith(failure.prefix):
                if failure.times is not None:
                    if failure.times == 0:
                        continue
                    failure.times -= 1
                raise failure.error

    def _existing(self, path: str) -> Json:
        found = self.objects.get(path)
        if found is None:
            raise ApiError(404, "NotFound", f"{path} not found")
        return found

    def _store(self, path: str, body: Json, *, new: bool = False) -> Json:
        body = copy.deepcopy(body)
        self._version += 1
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = str(self._version)
        if new:
            parts = path.split("/")
            if "namespaces" in parts:
                meta.setdefault("namespace", parts[parts.index("namespaces") + 1])
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("generation", 1)
            meta.setdefault("creationTimestamp", self._created)
            default = STATUS_DEFAULTS.get(body.get("kind", ""))
            if default is not None:
                body["status"] = _merge(default(), body.get("status") or {})
        self.objects[path] = body
        return body


def _object_path(path: str) -> str:
    return path.removesuffix("/status")


def _merge(target: Json, patch: Json) -> Json:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _apply(doc: Json, op: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, replace, remove, test) on object members."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
    node: Any = doc
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            raise ApiError(422, "Invalid", f"{op['path']}: no such path")
        node = node[part]
    if not isinstance(node, dict):
        raise ApiError(422, "Invalid", f"{op['path']}: not an object")
    match op["op"]:
        case "test":
            if node.get(last, _MISSING) != op["value"]:
                raise ApiError(422, "Invalid", f"test failed at {op['path']}")
        case "add" | "replace":
            node[last] = copy.deepcopy(op["value"])
        case "remove":
            node.pop(last, None)
        case other:
            raise ValueError(f"unsupported JSON Patch op {other}")


_MISSING = object()


def _conforms(kube: FakeKube) -> KubeApi:
    """mypy checks here that FakeKube has the client's surface."""
    return kube
