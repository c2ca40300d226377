"""Saved views: a JobView in the namespace, else a ClusterJobView of that name."""

from dataclasses import dataclass

from taskmill.api.jobview import ClusterJobView, JobView, JobViewSpec
from taskmill.api.statuspolicy import SubjectKind
from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.paths import ResourcePath
from taskmill.status.adapters.lateness import parse_duration
from taskmill.status.layers import Viewer
from taskmill.views.filters import COLUMNS, View, ViewError

JOBVIEWS = ResourcePath("taskmill.io", "v1alpha1", "jobviews")
CLUSTERJOBVIEWS = ResourcePath("taskmill.io", "v1alpha1", "clusterjobviews", namespaced=False)


@dataclass(frozen=True)
class Saved:
    view: View
    selector: str
    all_namespaces: bool


async def load_view(kube: KubeApi, name: str, namespace: str | None) -> Saved:
    """The saved view `name`, or ViewError saying where it was looked for."""
    looked = []
    if namespace:
        looked.append(f"JobView {namespace}/{name}")
        body = await _get(kube, JOBVIEWS.path(namespace, name))
        if body is not None:
            return saved_view(JobView.model_validate(body).spec, cluster=False)
    looked.append(f"ClusterJobView {name}")
    body = await _get(kube, CLUSTERJOBVIEWS.path(name=name))
    if body is not None:
        return saved_view(ClusterJobView.model_validate(body).spec, cluster=True)
    raise ViewError(f"unknown view {name!r}: no {' and no '.join(looked)}")


def saved_view(spec: JobViewSpec, *, cluster: bool) -> Saved:
    view = View(
        kinds=tuple(spec.kinds),
        statuses=tuple(str(s) for s in spec.statuses),
        name=spec.name,
        since=parse_duration(spec.since) if spec.since else None,
        sort_by=str(spec.sort_by),
        columns=tuple(str(c) for c in spec.columns) or COLUMNS,
    )
    return Saved(view, spec.selector, cluster and spec.all_namespaces)


@dataclass(frozen=True)
class Listed:
    name: str
    kind: str  # JobView or ClusterJobView
    mine: bool  # its subjects name the viewer (or one of their groups)


async def list_views(kube: KubeApi, namespace: str | None, viewer: Viewer) -> list[Listed]:
    """The saved views the viewer may read, theirs first; kinds they may not list are
    left out (the UI still takes a view by name)."""
    found: list[Listed] = []
    sources = [(JOBVIEWS.path(namespace), "JobView")] if namespace else []
    sources.append((CLUSTERJOBVIEWS.path(), "ClusterJobView"))
    for path, kind in sources:
        try:
            items = (await kube.list_objects(path))["items"]
        except ApiError as e:
            if e.status in (403, 404):
                continue
            raise
        for item in items:
            spec = JobViewSpec.model_validate(item.get("spec") or {})
            found.append(Listed(item["metadata"]["name"], kind, _names(spec, viewer)))
    return sorted(found, key=lambda v: (not v.mine, v.kind != "JobView", v.name))


def _names(spec: JobViewSpec, viewer: Viewer) -> bool:
    return any(
        (s.kind == SubjectKind.USER and s.name == viewer.user)
        or (s.kind == SubjectKind.GROUP and s.name in viewer.groups)
        or (
            s.kind == SubjectKind.SERVICE_ACCOUNT
            and viewer.user == f"system:serviceaccount:{s.namespace}:{s.name}"
        )
        for s in spec.subjects
    )


async def _get(kube: KubeApi, path: str) -> dict[str, object] | None:
    try:
        return await kube.get(path)
    except ApiError as e:
        if e.status == 404:
            return None
        raise
