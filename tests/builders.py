"""Fixture builders for BatchJobs and Tasks, shared by unit tests, integration tests and
the bench (JobSet's `MakeJobSet(name, ns).ReplicatedJob(...).Obj()` style).

    make_batchjob("thumbs", "image.resize").range(end=4).spec(priority=5).obj()
    make_task("thumbs-0", "image.resize").index(0).status(phase="Leased").obj()
    make_statuspolicy("team").subject("Group", "ml").rule("batch", "Job", "Running", "true").obj()
    make_workload("batch/v1", "Job", "nightly").spec(suspend=True).obj()

`.obj()` returns a fresh manifest each call (builders never share nested dicts with
what they returned), in the camelCase wire form the API server takes.
"""

import copy
from typing import Any, Self

from taskmill.api.meta import API_VERSION, LABEL_BATCHJOB, LABEL_CAPABILITY

Manifest = dict[str, Any]


class _Builder:
    def __init__(self, kind: str, name: str, api_version: str = API_VERSION) -> None:
        self._obj: Manifest = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name},
            "spec": {},
        }

    def namespace(self, namespace: str) -> Self:
        self._obj["metadata"]["namespace"] = namespace
        return self

    def labels(self, **labels: str) -> Self:
        self._obj["metadata"].setdefault("labels", {}).update(labels)
        return self

    def meta(self, **fields: Any) -> Self:
        """Any other metadata field, in wire form (resourceVersion, uid, ownerReferences)."""
        self._obj["metadata"].update(fields)
        return self

    def spec(self, **fields: Any) -> Self:
        """Spec fields in wire form (camelCase); a value of None removes the field."""
        spec = self._obj["spec"]
        for key, value in fields.items():
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        return self

    def status(self, **fields: Any) -> Self:
        self._obj.setdefault("status", {}).update(fields)
        return self

    def obj(self) -> Manifest:
        return copy.deepcopy(self._obj)


class BatchJobBuilder(_Builder):
    def range(self, end: int, start: int = 0, step: int = 1) -> Self:
        return self.spec(range={"start": start, "end": end, "step": step})

    def items(self, *items: Any) -> Self:
        return self.spec(items=list(items))


class TaskBuilder(_Builder):
    """A Task as the operator creates it: labels and spec; no status unless given."""

    def index(self, index: int) -> Self:
        return self.spec(index=index)

    def job(self, name: str) -> Self:
        self.labels(**{LABEL_BATCHJOB: name})
        return self.spec(batchJob=name)

    def lease(self, holder: str, epoch: int = 1, **fields: Any) -> Self:
        status = self._obj.setdefault("status", {})
        status["lease"] = {"holder": holder, "epoch": epoch, **fields}
        return self


class StatusPolicyBuilder(_Builder):
    def subject(self, kind: str, name: str, namespace: str | None = None) -> Self:
        subject = {"kind": kind, "name": name}
        if namespace is not None:
            subject["namespace"] = namespace
        self._obj["spec"].setdefault("subjects", []).append(subject)
        return self

    def priority(self, priority: int) -> Self:
        return self.spec(priority=priority)

    def rule(
        self, api_group: str, kind: str, value: str, when: str, name: str = "", reason: str = ""
    ) -> Self:
        """Append one rule to the kind's list (created on first use)."""
        kinds = self._obj["spec"].setdefault("rules", [])
        entry = next((k for k in kinds if (k["apiGroup"], k["kind"]) == (api_group, kind)), None)
        if entry is None:
            entry = {"apiGroup": api_group, "kind": kind, "rules": []}
            kinds.append(entry)
        rule = {"value": value, "when": when}
        rule.update({key: v for key, v in (("name", name), ("reason", reason)) if v})
        entry["rules"].append(rule)
        return self


def make_statuspolicy(name: str) -> StatusPolicyBuilder:
    return StatusPolicyBuilder("StatusPolicy", name)


def make_workload(api_version: str, kind: str, name: str) -> _Builder:
    """Any kind in wire form: a batch/v1 Job, a CronJob, another scheduler's CRD."""
    return _Builder(kind, name, api_version)


def make_provider_deployment(name: str, image: str, node: str = "") -> Manifest:
    """A Deployment of provider pods at zero replicas, for a ProviderPool to scale; `node`
    pins its pods to a (kwok) node, tolerating its taints."""
    labels = {"app": name}
    pod: Manifest = {"containers": [{"name": "provider", "image": image}]}
    if node:
        pod |= {"nodeName": node, "tolerations": [{"operator": "Exists"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def make_batchjob(name: str, capability: str = "demo.echo") -> BatchJobBuilder:
    return BatchJobBuilder("BatchJob", name).spec(capability=capability)


def make_task(name: str, capability: str = "demo.echo", job: str = "job") -> TaskBuilder:
    return (
        TaskBuilder("Task", name)
        .labels(**{LABEL_CAPABILITY: capability})
        .job(job)
        .spec(index=0, capability=capability)
    )
