"""What the views read from the cluster, with the viewer's credentials: one list per kind.

A snapshot is the survey (every workload, normalized under the viewer's layers), plus
the Tasks and provider presence Leases that capacity, alerts and "why" need. Whatever
the viewer may not list is recorded as such; nothing is fetched per object.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskmill.api.meta import LABEL_PROVIDER
from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.paths import LEASES, TASKS
from taskmill.status.survey import Survey, survey
from taskmill.views.capacity import Capacity, LiveProvider, capacity, live_providers
from taskmill.views.rows import WorkloadRow, workload_row


@dataclass
class Snapshot:
    survey: Survey
    rows: list[WorkloadRow]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    providers: list[LiveProvider] = field(default_factory=list)
    capacity: list[Capacity] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # kinds not listable, Tasks included
    sources: list[tuple[str, str]] = field(default_factory=list)  # what to watch for changes


async def snapshot(
    kube: KubeApi,
    now: datetime,
    *,
    namespace: str | None,
    label_selector: str = "",
    with_tasks: bool = False,
) -> Snapshot:
    seen = await survey(kube, now, namespace=namespace, label_selector=label_selector)
    shot = Snapshot(
        seen,
        [workload_row(row) for row in seen.rows],
        denied=list(seen.denied),
        sources=list(seen.sources),
    )
    if with_tasks:
        tasks = await _listed(kube, TASKS.path(namespace), shot, "Task.taskmill.io")
        leases = await _listed(
            kube,
            LEASES.path(namespace),
            shot,
            "Lease.coordination.k8s.io",
            labelSelector=f"{LABEL_PROVIDER}=true",
        )
        shot.tasks = tasks
        shot.providers = live_providers(leases, now)
        shot.capacity = capacity(tasks, shot.providers)
    return shot


async def _listed(
    kube: KubeApi, path: str, shot: Snapshot, label: str, **params: str
) -> list[dict[str, Any]]:
    try:
        listing = await kube.list_objects(path, **params)
    except ApiError as e:
        if e.status not in (403, 404):
            raise
        if label not in shot.denied:
            shot.denied.append(label)
        return []
    query = "".join(f"?{key}={value}" for key, value in params.items())  # one at most
    shot.sources.append((path + query, str(listing.get("metadata", {}).get("resourceVersion", ""))))
    items: list[dict[str, Any]] = listing["items"]
    return items
