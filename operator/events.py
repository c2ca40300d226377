"""Kubernetes Events about BatchJobs and Tasks: what went wrong, never per success."""

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from taskmill.api import BatchJob
from taskmill.api.meta import API_VERSION
from taskmill.api.protocol import timestamp
from taskmill.kube import ApiError, KubeApi
from taskmill.kube.paths import EVENTS

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "taskmill.io/operator"
NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Regarding:
    kind: str  # BatchJob or Task
    namespace: str
    name: str
    uid: str = ""


def regarding(job: BatchJob, task: str | None = None, task_uid: str = "") -> Regarding:
    """The job itself, or one of its Tasks by name. `kubectl describe` finds an object's
    Events by uid: a Task's Events carry it."""
    meta = job.metadata
    if task is None:
        return Regarding("BatchJob", meta.namespace, meta.name, meta.uid)
    return Regarding("Task", meta.namespace, task, task_uid)


def event_body(
    about: Regarding,
    reason: str,
    note: str,
    *,
    type: str,
    action: str,
    instance: str,
    now: datetime,
) -> dict[str, Any]:
    regarding = {
        "apiVersion": API_VERSION,
        "kind": about.kind,
        "namespace": about.namespace,
        "name": about.name,
    }
    if about.uid:
        regarding["uid"] = about.uid
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        # Named like client-go's recorder: the object's name, a dot, a unique suffix.
        "metadata": {
            "name": f"{about.name[:236]}.{secrets.token_hex(8)}",
            "namespace": about.namespace,
        },
        "eventTime": timestamp(now),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": action,
        "reason": reason,
        "note": note[:1024],
        "type": type,
        "regarding": regarding,
    }


class Recorder:
    """Posts Events; a failure to post is logged and never stops the reconciler."""

    def __init__(self, kube: KubeApi, instance: str) -> None:
        self._kube = kube
        self._instance = instance

    async def post(
        self, about: Regarding, reason: str, note: str, *, type: str = WARNING, action: str = ""
    ) -> None:
        body = event_body(
            about,
            reason,
            note,
            type=type,
            action=action or reason,
            instance=self._instance,
            now=datetime.now(UTC),
        )
        try:
            await self._kube.create(EVENTS.path(about.namespace), body)
        except (ApiError, aiohttp.ClientError, TimeoutError) as e:
            log.warning("could not post event", extra={"reason": reason, "error": str(e)})
        log.info(note, extra={"event": reason, "kind": about.kind, "object": about.name})
