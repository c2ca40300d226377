"""Task objects as the API server returns them, for provider unit tests."""

from typing import Any


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
) -> dict[str, Any]:
    return {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "Task",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": resource_version,
            "creationTimestamp": created,
            "labels": {"taskmill.io/capability": capability, "taskmill.io/batchjob": "job"},
        },
        "spec": {
            "batchJob": "job",
            "index": index,
            "capability": capability,
            "priority": priority,
            "params": {"n": index},
            "cancel": cancel,
        },
        "status": {"phase": phase, "lease": {"holder": holder, "epoch": epoch}},
    }
