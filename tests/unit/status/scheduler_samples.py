"""Other schedulers' objects, with status in the shapes their controllers document, and
the value each example policy (examples/status-policies/) gives them."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskmill.api.statuspolicy import StatusPolicy
from taskmill.status import CompiledPolicy, compile_policy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "status-policies"


@dataclass(frozen=True)
class Scheduler:
    policy: str  # file in examples/status-policies
    api_version: str
    kind: str
    plural: str


@dataclass(frozen=True)
class Sample:
    scheduler: Scheduler
    expected: str
    status: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)


ARGO = Scheduler("argo-workflow.yaml", "argoproj.io/v1alpha1", "Workflow", "workflows")
TEKTON = Scheduler("tekton-pipelinerun.yaml", "tekton.dev/v1", "PipelineRun", "pipelineruns")
KUEUE = Scheduler("kueue-workload.yaml", "kueue.x-k8s.io/v1beta1", "Workload", "workloads")
VOLCANO = Scheduler("volcano-job.yaml", "batch.volcano.sh/v1alpha1", "Job", "jobs")
RAY = Scheduler("ray-job.yaml", "ray.io/v1", "RayJob", "rayjobs")
SPARK = Scheduler(
    "spark-application.yaml",
    "sparkoperator.k8s.io/v1beta2",
    "SparkApplication",
    "sparkapplications",
)
SCHEDULERS = (ARGO, TEKTON, KUEUE, VOLCANO, RAY, SPARK)


def _cond(kind: str, status: str, reason: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, **({"reason": reason} if reason else {})}


SAMPLES = [
    Sample(ARGO, "Waiting"),
    Sample(ARGO, "Running", {"phase": "Running"}),
    Sample(ARGO, "Success", {"phase": "Succeeded"}),
    Sample(ARGO, "Failure", {"phase": "Error"}),
    Sample(ARGO, "OnHold", {"phase": "Running"}, {"suspend": True}),
    Sample(ARGO, "Cancel", {"phase": "Running"}, {"shutdown": "Stop"}),
    Sample(TEKTON, "Waiting"),
    Sample(TEKTON, "Running", {"conditions": [_cond("Succeeded", "Unknown", "Running")]}),
    Sample(TEKTON, "Success", {"conditions": [_cond("Succeeded", "True", "Succeeded")]}),
    Sample(TEKTON, "Failure", {"conditions": [_cond("Succeeded", "False", "Failed")]}),
    Sample(TEKTON, "Cancel", {"conditions": [_cond("Succeeded", "False", "Cancelled")]}),
    Sample(TEKTON, "OnHold", {}, {"status": "PipelineRunPending"}),
    Sample(KUEUE, "Waiting", {"conditions": [_cond("QuotaReserved", "False", "Pending")]}),
    Sample(KUEUE, "Running", {"conditions": [_cond("Admitted", "True", "Admitted")]}),
    Sample(KUEUE, "Restart", {"conditions": [_cond("Evicted", "True", "Preempted")]}),
    Sample(KUEUE, "Success", {"conditions": [_cond("Finished", "True", "Succeeded")]}),
    Sample(KUEUE, "Failure", {"conditions": [_cond("Finished", "True", "Failed")]}),
    Sample(KUEUE, "OnHold", {}, {"active": False}),
    Sample(VOLCANO, "Waiting", {"state": {"phase": "Pending"}}),
    Sample(VOLCANO, "Running", {"state": {"phase": "Running"}}),
    Sample(VOLCANO, "Restart", {"state": {"phase": "Restarting"}}),
    Sample(VOLCANO, "Success", {"state": {"phase": "Completed"}}),
    Sample(VOLCANO, "Failure", {"state": {"phase": "Failed"}}),
    Sample(VOLCANO, "Cancel", {"state": {"phase": "Aborted"}}),
    Sample(RAY, "Waiting", {"jobDeploymentStatus": "Initializing"}),
    Sample(RAY, "Running", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}),
    Sample(RAY, "Success", {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}),
    Sample(RAY, "Failure", {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED"}),
    Sample(RAY, "Cancel", {"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"}),
    Sample(RAY, "OnHold", {"jobDeploymentStatus": "Suspended"}),
    Sample(RAY, "Restart", {"jobDeploymentStatus": "Retrying"}),
    Sample(SPARK, "Waiting", {"applicationState": {"state": "SUBMITTED"}}),
    Sample(SPARK, "Running", {"applicationState": {"state": "RUNNING"}}),
    Sample(SPARK, "Success", {"applicationState": {"state": "COMPLETED"}}),
    Sample(SPARK, "Failure", {"applicationState": {"state": "SUBMISSION_FAILED"}}),
    Sample(SPARK, "Restart", {"applicationState": {"state": "PENDING_RERUN"}}),
    Sample(SPARK, "Unknown", {"applicationState": {"state": "UNKNOWN"}}),
]


def manifest(sample: Sample, name: str) -> dict[str, Any]:
    s = sample.scheduler
    body: dict[str, Any] = {
        "apiVersion": s.api_version,
        "kind": s.kind,
        "metadata": {"name": name, "creationTimestamp": "2026-12-01T11:00:00Z"},
        "spec": dict(sample.spec),
    }
    if sample.status:
        body["status"] = dict(sample.status)
    return body


def example(policy: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / policy).read_text())
    return loaded


def compiled_example(policy: str) -> CompiledPolicy:
    return compile_policy(StatusPolicy.model_validate(example(policy)))
