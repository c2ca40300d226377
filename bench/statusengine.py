"""Status normalization speed: 10,000 mixed workloads under a three-layer policy set.

Pure CPU (no API server): what a viewer spends per object once the lists are in
hand. The mix: batch Jobs in every state, CronJobs with two runs each, BatchJobs,
Tasks and Argo Workflows; the layers: a user's policy, a group's, and the cluster
default (the built-in rules plus the Argo example).
"""

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from bench.context import Bench
from taskmill.api.statuspolicy import StatusPolicy
from taskmill.status import (
    Inventory,
    Viewer,
    builtin_policy,
    compile_policy,
    gather,
    layers_for,
    normalize,
)
from tests.builders import make_batchjob, make_statuspolicy, make_task, make_workload
from tests.harness.versions import REPO_ROOT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CREATED = (NOW - timedelta(minutes=30)).isoformat()
JOB_STATUSES: list[dict[str, Any]] = [
    {},
    {"active": 1},
    {"active": 1, "failed": 1},
    {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1},
    {"conditions": [{"type": "Failed", "status": "True"}], "failed": 2},
]


def workloads(count: int, rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < count:
        i = len(out)
        pick = rng.random()
        if pick < 0.3:
            job = make_workload("batch/v1", "Job", f"job-{i}").meta(creationTimestamp=CREATED)
            out.append(job.status(**rng.choice(JOB_STATUSES)).obj())
        elif pick < 0.4:
            uid = f"cron-{i}"
            owner = {"kind": "CronJob", "uid": uid, "controller": True, "name": uid}
            cron = make_workload("batch/v1", "CronJob", uid).meta(
                uid=uid, creationTimestamp=CREATED
            )
            out.append(
                cron.spec(schedule="*/5 * * * *").status(lastScheduleTime=NOW.isoformat()).obj()
            )
            for run in range(2):
                job = make_workload("batch/v1", "Job", f"{uid}-{run}").meta(ownerReferences=[owner])
                out.append(job.status(**rng.choice(JOB_STATUSES)).obj())
        elif pick < 0.7:
            bj = make_batchjob(f"bj-{i}").items(1, 2, 3).meta(creationTimestamp=CREATED)
            counts = {"total": 3, "pending": rng.randint(0, 3), "leased": rng.randint(0, 3)}
            out.append(bj.status(phase=rng.choice(["Pending", "Running"]), counts=counts).obj())
        elif pick < 0.9:
            phase = rng.choice(["Pending", "Running", "Succeeded", "Failed", "Held"])
            out.append(make_task(f"t-{i}").status(phase=phase, attempts=rng.randint(0, 2)).obj())
        else:
            wf = make_workload("argoproj.io/v1alpha1", "Workflow", f"wf-{i}")
            out.append(wf.status(phase=rng.choice(["Pending", "Running", "Succeeded"])).obj())
    return out[:count]


def layers() -> list[Any]:
    user = make_statuspolicy("alice").subject("User", "alice")
    user.rule(
        "batch",
        "Job",
        "RunningLate",
        "object.status.?active.orValue(0) > 0 && facts.expectedDurationExceeded",
    )
    user.rule("argoproj.io", "Workflow", "Restart", "object.?status.?phase.orValue('') == 'Error'")
    group = make_statuspolicy("ml").subject("Group", "ml")
    group.rule("batch", "Job", "Restart", "object.status.?failed.orValue(0) > 1")
    group.rule("batch", "CronJob", "OnHold", "object.spec.?suspend.orValue(false)")
    argo = yaml.safe_load((REPO_ROOT / "examples/status-policies/argo-workflow.yaml").read_text())
    policies = [
        compile_policy(StatusPolicy.model_validate(p)) for p in (user.obj(), group.obj(), argo)
    ]
    return layers_for(Viewer("alice", ("ml",)), policies, builtin_policy())


async def status_engine(bench: Bench, count: int = 10_000) -> dict[str, Any]:
    objects = workloads(count, bench.rng)
    chosen = layers()
    started = time.perf_counter()
    inventory = Inventory(objects)
    values: dict[str, int] = {}
    for obj in objects:
        verdict = normalize(obj, chosen, NOW, gather(obj, inventory, NOW).facts)
        values[verdict.value] = values.get(verdict.value, 0) + 1
    seconds = time.perf_counter() - started
    bench.say(f"normalized {count} objects in {seconds:.2f}s: {values}")
    return {
        "objects": count,
        "layers": len(chosen),
        "seconds": seconds,
        "objects_per_s": count / seconds,
        "unknown": values.get("Unknown", 0),
    }
