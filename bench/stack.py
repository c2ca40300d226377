"""The bench's own control plane (its own state dir) and the API calls scenarios share."""

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from taskmill.kube import ApiError, Kube, load_connection
from taskmill.kube.paths import BATCHJOBS, TASKS
from tests.builders import make_task
from tests.harness import Binaries, Cluster, ControlPlane
from tests.harness.versions import REPO_ROOT

CRD_DIR = REPO_ROOT / "crds"
NAMESPACES = "/api/v1/namespaces"
LIST_PAGE = "500"


def start_control_plane(state_dir: Path) -> tuple[ControlPlane, Cluster]:
    binaries = Binaries.locate()
    binaries.ensure()
    plane = ControlPlane(state_dir, binaries, die_with_parent=True)
    cluster = plane.start()
    cluster.apply_crds(sorted(CRD_DIR.glob("*.yaml")))
    return plane, cluster


def kube_for(cluster: Cluster, agent: str = "taskmill-bench") -> Kube:
    return Kube(load_connection(str(cluster.kubeconfig)), user_agent=agent, limit=256)


async def new_namespace(kube: Kube, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    await kube.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name


async def delete_namespace(kube: Kube, name: str, within: float = 300) -> None:
    """Delete and wait until it is gone, so its cleanup does not load the next measurement."""
    path = f"{NAMESPACES}/{name}"
    deadline = time.monotonic() + within
    try:
        await kube.delete(path)
        while time.monotonic() < deadline:
            await kube.get(path)
            await asyncio.sleep(0.5)
    except ApiError as e:
        if e.status != 404:
            raise


def task_body(name: str, capability: str, index: int, **spec: Any) -> dict[str, Any]:
    """A Task as the operator would create it (no status: the schema defaults it)."""
    return make_task(name, capability, "bench").spec(index=index, **spec).obj()


async def wait_job(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    within: float,
    poll: float = 0.25,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll the BatchJob until it is finished; returns its last body."""
    deadline = time.monotonic() + within
    path = BATCHJOBS.path(namespace, name)
    while True:
        try:
            body: dict[str, Any] = await kube.get(path)
        except (TimeoutError, aiohttp.ClientError) as e:  # a control-plane fault: poll on
            if time.monotonic() > deadline:
                raise TimeoutError(f"BatchJob {namespace}/{name}: {e!r}") from e
            await asyncio.sleep(poll)
            continue
        if on_poll is not None:
            on_poll(body)
        if body.get("status", {}).get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return body
        if time.monotonic() > deadline:
            counts = body.get("status", {}).get("counts")
            raise TimeoutError(
                f"BatchJob {namespace}/{name} not finished in {within:.0f}s: {counts}"
            )
        await asyncio.sleep(poll)


async def list_tasks(kube: Kube, namespace: str, **params: str) -> list[dict[str, Any]]:
    """Every Task in the namespace, page by page."""
    items: list[dict[str, Any]] = []
    query = {"limit": LIST_PAGE, **params}
    while True:
        page = await kube.list_objects(TASKS.path(namespace), **query)
        items.extend(page.get("items", []))
        token = page.get("metadata", {}).get("continue")
        if not token:
            return items
        query["continue"] = token


def parse_time(value: str) -> float:
    """An RFC 3339 timestamp as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def rejected_status_patches(metrics_text: str) -> int:
    """PATCHes of tasks/status the API server rejected with 409 or 422: lost races."""
    total = 0
    for line in metrics_text.splitlines():
        if (
            line.startswith("apiserver_request_total{")
            and 'verb="PATCH"' in line
            and 'resource="tasks"' in line
            and 'subresource="status"' in line
            and ('code="409"' in line or 'code="422"' in line)
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
