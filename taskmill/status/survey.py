"""A viewer's survey: every workload of every kind a policy knows, normalized under the
viewer's own layers.

The viewer is whoever the credentials say (a SelfSubjectReview), so two people with
different policies see different values for the same object. One list per kind, never
a request per object; a kind the viewer may not list is reported as denied rather than
shown as empty.
"""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskmill.api.statuspolicy import StatusPolicy
from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.discovery import served_kinds
from taskmill.kube.paths import STATUSPOLICIES, ResourcePath
from taskmill.status.adapters import gather
from taskmill.status.builtin import builtin_policy
from taskmill.status.engine import Verdict, normalize
from taskmill.status.inventory import Inventory
from taskmill.status.layers import Viewer, layers_for
from taskmill.status.policy import CompiledPolicy, KindKey, compile_policy

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
JOB: KindKey = ("batch", "Job")
CRONJOB: KindKey = ("batch", "CronJob")


@dataclass(frozen=True)
class Row:
    obj: Mapping[str, Any]
    verdict: Verdict
    problems: tuple[str, ...] = ()  # what its adapter could not read

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


@dataclass(frozen=True)
class Survey:
    viewer: Viewer
    layers: tuple[str, ...]  # policy names, in the order they were tried
    rows: list[Row] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # kinds the viewer may not list
    unserved: list[str] = field(default_factory=list)  # kinds the cluster does not serve
    notes: list[str] = field(default_factory=list)  # e.g. policies it could not read
    # (list path, with `?labelSelector=` when filtered; resourceVersion): what to watch.
    sources: list[tuple[str, str]] = field(default_factory=list)


async def whoami(kube: KubeApi) -> Viewer:
    """The user and groups the API server authenticates these credentials as."""
    review = await kube.create(
        SELF_SUBJECT_REVIEWS,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    info = review.get("status", {}).get("userInfo", {})
    return Viewer(str(info.get("username", "")), tuple(info.get("groups") or ()))


async def viewer_layers(kube: KubeApi, viewer: Viewer) -> tuple[list[CompiledPolicy], list[str]]:
    """The viewer's policy layers; the built-in default when policies cannot be read."""
    return _layers(viewer, await _policies(kube))


async def _policies(kube: KubeApi) -> list[dict[str, Any]] | str:
    """Every StatusPolicy, or why they cannot be read."""
    try:
        listed = await kube.list_objects(STATUSPOLICIES.path())
    except ApiError as e:
        if e.status not in (403, 404):
            raise
        why = "may not list" if e.status == 403 else "this cluster has no"
        return f"{why} statuspolicies: the built-in default applies"
    items: list[dict[str, Any]] = listed["items"]
    return items


def _layers(
    viewer: Viewer, policies: list[dict[str, Any]] | str
) -> tuple[list[CompiledPolicy], list[str]]:
    if isinstance(policies, str):
        return [builtin_policy()], [policies]
    compiled = [compile_policy(StatusPolicy.model_validate(p)) for p in policies]
    return layers_for(viewer, compiled, builtin_policy()), []


async def survey(
    kube: KubeApi,
    now: datetime,
    *,
    namespace: str | None = None,
    kinds: Sequence[KindKey] | None = None,
    label_selector: str = "",
) -> Survey:
    """Every object of `kinds` (default: every kind the layers have rules for) in
    `namespace` (None: all), optionally only those matching a label selector."""
    # Independent requests go out together: the wait is the API server's, not ours.
    viewer, policies = await asyncio.gather(whoami(kube), _policies(kube))
    layers, notes = _layers(viewer, policies)
    wanted = list(kinds) if kinds is not None else _kinds_of(layers)
    result = Survey(viewer, tuple(p.name for p in layers), notes=notes)
    # A CronJob's status comes from its Jobs: list them too, even when not shown.
    keys = [*wanted, *([JOB] if CRONJOB in wanted and JOB not in wanted else [])]
    groups = list(dict.fromkeys(group for group, _kind in keys))
    discovered = await asyncio.gather(*(served_kinds(kube, group) for group in groups))
    served = dict(zip(groups, discovered, strict=True))
    fetched = await asyncio.gather(
        *(
            # A CronJob's runs are listed whole, whatever the selector.
            _list_kind(
                kube, key, served[key[0]], namespace, label_selector if key in wanted else ""
            )
            for key in keys
        )
    )
    listed: dict[KindKey, list[dict[str, Any]]] = {}
    for key, (objects, outcome) in zip(keys, fetched, strict=True):
        label = f"{key[1]}.{key[0]}" if key[0] else key[1]
        if outcome == DENIED:
            result.denied.append(label)
        elif outcome == UNSERVED:
            result.unserved.append(label)
        else:
            listed[key] = objects
            result.sources.append(outcome)
    inventory = Inventory(obj for objects in listed.values() for obj in objects)
    for key in wanted:
        for obj in listed.get(key, ()):
            gathered = gather(obj, inventory, now)
            verdict = normalize(obj, layers, now, gathered.facts)
            result.rows.append(Row(obj, verdict, gathered.problems))
    return result


def _kinds_of(layers: Sequence[CompiledPolicy]) -> list[KindKey]:
    seen: dict[KindKey, None] = {}
    for policy in layers:
        seen.update(dict.fromkeys(policy.rules))
    return list(seen)


DENIED, UNSERVED = ("denied", ""), ("unserved", "")


async def _list_kind(
    kube: KubeApi,
    key: KindKey,
    served: Mapping[str, ResourcePath],
    namespace: str | None,
    label_selector: str,
) -> tuple[list[dict[str, Any]], tuple[str, str]]:
    """The kind's objects and where to watch them (path, resourceVersion); DENIED or
    UNSERVED instead of the source when it could not be listed."""
    path = served.get(key[1])
    if path is None:
        return [], UNSERVED
    collection = _collection(path, namespace)
    params = {"labelSelector": label_selector} if label_selector else {}
    try:
        listing = await kube.list_objects(collection, **params)
    except ApiError as e:
        if e.status != 403:
            raise
        return [], DENIED
    rv = str(listing.get("metadata", {}).get("resourceVersion", ""))
    query = f"?labelSelector={label_selector}" if label_selector else ""
    # Lists carry no apiVersion/kind per item; rules and adapters need them.
    api_version = f"{path.group}/{path.version}" if path.group else path.version
    objects = [{**item, "apiVersion": api_version, "kind": key[1]} for item in listing["items"]]
    return objects, (collection + query, rv)


def _collection(path: ResourcePath, namespace: str | None) -> str:
    return path.path(namespace if path.namespaced else None)
