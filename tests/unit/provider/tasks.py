"""Task objects as the API server returns them, for provider unit tests."""

from typing import Any

from taskmill.api.meta import LABEL_NOMINEE
from tests.builders import make_task


def task_obj(
    name: str,
    *,
    capability: str = "cap",
    priority: int = 0,
    index: int = 0,
    created: str = "2026-01-01T00:00:00Z",
    phase: str = "Pending",
    holder: str = "",
    epoch: int = 0,
    cancel: bool = False,
    resource_version: str = "1",
    claim: str | None = None,
    nominee: str = "",
) -> dict[str, Any]:
    return (
        make_task(name, capability)
        .meta(namespace="ns", resourceVersion=resource_version, creationTimestamp=created)
        .labels(**({LABEL_NOMINEE: nominee} if nominee else {}))
        .spec(index=index, priority=priority, params={"n": index}, cancel=cancel, claim=claim)
        .status(phase=phase)
        .lease(holder, epoch)
        .obj()
    )
