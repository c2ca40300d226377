"""A viewer's survey: every workload of every kind a policy knows, normalized under the
viewer's own layers.

The viewer is whoever the credentials say (a SelfSubjectReview), so two people with
different policies see different values for the same object. One list per kind, never
a request per object; a kind the viewer may not list is reported as denied rather than
shown as empty.
"""

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
    try:
        listed = await kube.list_objects(STATUSPOLICIES.path())
    except ApiError as e:
        if e.status not in (403, 404):
            raise
        why = "may not list" if e.status == 403 else "this cluster has no"
        return [builtin_policy()], [f"{why} statuspolicies: the built-in default applies"]
    policies = [compile_policy(StatusPolicy.model_validate(p)) for p in listed["items"]]
    return layers_for(viewer, policies, builtin_policy()), []


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
    viewer = await whoami(kube)
    layers, notes = await viewer_layers(kube, viewer)
    wanted = list(kinds) if kinds is not None else _kinds_of(layers)
    result = Survey(viewer, tuple(p.name for p in layers), notes=notes)
    listed: dict[KindKey, list[dict[str, Any]]] = {}
    groups: dict[str, dict[str, ResourcePath]] = {}  # discovery, once per group
    # A CronJob's status comes from its Jobs: list them too, even when not shown.
    for key in [*wanted, *([JOB] if CRONJOB in wanted and JOB not in wanted else [])]:
        if key[0] not in groups:
            groups[key[0]] = await served_kinds(kube, key[0])
        selector = label_selector if key in wanted else ""  # a CronJob's runs: all of them
        objects = await _list_kind(kube, key, groups[key[0]], namespace, selector, result)
        if objects is not None:
            listed[key] = objects
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


async def _list_kind(
    kube: KubeApi,
    key: KindKey,
    served: Mapping[str, ResourcePath],
    namespace: str | None,
    label_selector: str,
    result: Survey,
) -> list[dict[str, Any]] | None:
    group, kind = key
    label = f"{kind}.{group}" if group else kind
    path = served.get(kind)
    if path is None:
        result.unserved.append(label)
        return None
    collection = _collection(path, namespace)
    params = {"labelSelector": label_selector} if label_selector else {}
    try:
        listing = await kube.list_objects(collection, **params)
    except ApiError as e:
        if e.status != 403:
            raise
        result.denied.append(label)
        return None
    rv = str(listing.get("metadata", {}).get("resourceVersion", ""))
    query = f"?labelSelector={label_selector}" if label_selector else ""
    result.sources.append((collection + query, rv))
    # Lists carry no apiVersion/kind per item; rules and adapters need them.
    api_version = f"{path.group}/{path.version}" if path.group else path.version
    return [{**item, "apiVersion": api_version, "kind": kind} for item in listing["items"]]


def _collection(path: ResourcePath, namespace: str | None) -> str:
    return path.path(namespace if path.namespaced else None)
