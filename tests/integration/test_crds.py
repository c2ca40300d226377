"""The generated CRDs on a real API server: admission, CEL lease rules, defaults, UX.

What the schema and CEL rules reject here is rejected for every client, so these
tests drive the API server with kubectl (what users run) and with JSON patches
built by taskmill.api.protocol (what operator and providers send).
"""

import asyncio
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskmill.api import protocol
from taskmill.api.batchjob import BATCHJOB_CRD, NEW_NAME_HINT, BatchJobSpec, RetryPolicy
from taskmill.api.common import ApiModel, TaskPhase
from taskmill.api.crdgen import KINDS, custom_resource_definition
from taskmill.api.meta import GROUP, CrdInfo
from taskmill.api.task import TASK_CRD, Task, TaskResult
from taskmill.kube.client import Kube, WatchEvent
from taskmill.kube.config import load_connection
from taskmill.kube.paths import TASKS
from tests.builders import make_batchjob, make_task
from tests.harness import Cluster
from tests.harness.polling import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# The example manifests; kustomization.yaml and its config are kustomize's own files
# (tests/integration/test_kustomize.py covers them).
EXAMPLES = sorted(
    p for p in (REPO / "examples").glob("*.yaml") if not p.name.startswith("kustomiz")
)
CAPABILITY = "demo.echo"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

Manifest = dict[str, Any]
Completed = subprocess.CompletedProcess[str]
Builder = Callable[[Task], protocol.Patch]  # a protocol write, built from the current Task


def batchjob(name: str, **spec: Any) -> Manifest:
    """A valid BatchJob; keyword arguments override its spec, None removes a field."""
    return make_batchjob(name, CAPABILITY).spec(range={"end": 4}).spec(**spec).obj()


def task_manifest(name: str, capability: str = CAPABILITY) -> Manifest:
    """A Task as the operator creates it: spec only, no status."""
    return make_task(name, capability).obj()


def one_line(text: str) -> str:
    """kubectl wraps long lines; compare texts with whitespace collapsed."""
    return " ".join(text.split())


# --- the CRDs themselves ------------------------------------------------------------


@pytest.mark.parametrize(("model", "info"), KINDS, ids=[info.kind for _, info in KINDS])
def test_crd_is_established_with_the_generated_schema(
    cluster: Cluster, crds: list[str], model: type[ApiModel], info: CrdInfo
) -> None:
    live = json.loads(cluster.kubectl("get", "crd", f"{info.plural}.{GROUP}", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in live["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    # The server keeps what was generated: nothing dropped, nothing rewritten.
    generated = custom_resource_definition(model, info)["spec"]["versions"][0]
    (served,) = live["spec"]["versions"]
    for key in ("schema", "subresources", "additionalPrinterColumns", "selectableFields"):
        assert served.get(key) == generated.get(key), key


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("batchjob.spec.retry", [BatchJobSpec.model_fields["retry"].description]),
        (
            "batchjob.spec.retry.maxAttempts",
            [RetryPolicy.model_fields["max_attempts"].description],
        ),
        ("task.status.lease", ["Current lease.", "Fencing token: + 1 at every change of holder."]),
    ],
)
def test_kubectl_explain_prints_the_descriptions(
    cluster: Cluster, crds: list[str], resource: str, expected: list[str]
) -> None:
    def explain() -> str | None:
        result = cluster.kubectl("explain", resource, check=False)
        return result.stdout if result.returncode == 0 else None

    # The OpenAPI document is published shortly after the CRD is established.
    printed = wait_for(explain, timeout=30, what=f"kubectl explain {resource}") or ""
    for text in expected:
        assert text is not None
        assert one_line(text) in one_line(printed)


def test_short_names_and_category(cluster: Cluster, crds: list[str], namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(batchjob("short")))
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest("t")))
    assert (
        "batchjob.taskmill.io/short"
        in cluster.kubectl("get", "bj", "-n", namespace, "-o", "name").stdout
    )
    assert (
        "task.taskmill.io/t" in cluster.kubectl("get", "tmt", "-n", namespace, "-o", "name").stdout
    )
    both = cluster.kubectl("get", "taskmill", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(both) == ["batchjob.taskmill.io/short", "task.taskmill.io/t"]


def _header(cluster: Cluster, *args: str) -> list[str]:
    return cluster.kubectl("get", *args).stdout.splitlines()[0].split()


@pytest.mark.parametrize(
    ("info", "manifest"),
    [(BATCHJOB_CRD, batchjob("cols")), (TASK_CRD, task_manifest("cols"))],
    ids=["BatchJob", "Task"],
)
def test_printer_columns(
    cluster: Cluster, crds: list[str], namespace: str, info: CrdInfo, manifest: Manifest
) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    default = ["NAME"] + [c.name.upper() for c in info.printer_columns if c.priority == 0]
    wide = ["NAME"] + [c.name.upper() for c in info.printer_columns]
    assert _header(cluster, info.plural, "-n", namespace) == default
    assert _header(cluster, info.plural, "-n", namespace, "-o", "wide") == wide
    assert "PRIORITY" in wide
    assert "PRIORITY" not in default


def test_task_columns_show_lease_and_attempts(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest("t")))
    patch_status(cluster, namespace, "t", claim("provider-a"))
    row = cluster.kubectl("get", "tasks", "-n", namespace, "-o", "wide").stdout.splitlines()[1]
    # NAME STATUS HOLDER ATTEMPTS CAPABILITY PHASE PRIORITY AGE
    assert row.split()[:7] == ["t", "Running", "provider-a", "0", CAPABILITY, "Running", "0"]


# --- every example is valid -----------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_examples_are_accepted(
    cluster: Cluster, crds: list[str], namespace: str, example: Path
) -> None:
    result = cluster.kubectl("apply", "-n", namespace, "-f", str(example), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not even a warning
    names = {doc["metadata"]["name"] for doc in yaml.safe_load_all(example.read_text())}
    created = cluster.kubectl("get", "batchjobs", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(created) == sorted(f"batchjob.taskmill.io/{name}" for name in names)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


# --- admission rejects bad BatchJobs, naming the field --------------------------------

TWO_TASKS = [{"name": "a"}, {"name": "b"}]
ONE_OF = "must validate one and only one schema (oneOf)"

# (case, manifest, what kubectl must print: the field's path and the complaint)
INVALID_CREATES: list[tuple[str, Manifest, list[str]]] = [
    ("unknown-field", batchjob("x", bogus=1), ['unknown field "spec.bogus"']),
    ("tasks-and-range", batchjob("x", tasks=TWO_TASKS), ['"spec" ' + ONE_OF, "Found 2 valid"]),
    ("items-and-range", batchjob("x", items=[1]), ['"spec" ' + ONE_OF, "Found 2 valid"]),
    ("none-of-them", batchjob("x", range=None), ['"spec" ' + ONE_OF, "Found none valid"]),
    (
        "bad-capability",
        batchjob("x", capability="Image_Resize"),
        ["spec.capability: Invalid value", "should match"],
    ),
    (
        "range-end-not-after-start",
        batchjob("x", range={"start": 5, "end": 5}),
        ["spec.range: Invalid value", "range.end must be greater than range.start"],
    ),
    (
        "range-too-large",
        batchjob("x", range={"start": -1, "end": 10_000_000}),
        ["spec.range: Invalid value", "range may produce at most 10000000 indexes"],
    ),
    (
        "step-zero",
        batchjob("x", range={"end": 10, "step": 0}),
        ["spec.range.step: Invalid value", "should be greater than or equal to 1"],
    ),
    (
        "batch-size-zero",
        batchjob("x", batchSize=0),
        ["spec.batchSize: Invalid value", "should be greater than or equal to 1"],
    ),
    (
        "negative-lease",
        batchjob("x", lease={"durationSeconds": -5}),
        ["spec.lease.durationSeconds: Invalid value", "should be greater than or equal to 5"],
    ),
    (
        "max-attempts-zero",
        batchjob("x", retry={"maxAttempts": 0}),
        ["spec.retry.maxAttempts: Invalid value", "should be greater than or equal to 1"],
    ),
    (
        "depends-on-itself",
        batchjob("selfish", dependsOn=["other", "selfish"]),
        ["spec.dependsOn: Invalid value", "must not name the job itself"],
    ),
    (
        "duplicate-task-names",
        batchjob("x", range=None, tasks=[{"name": "a"}, {"name": "a"}]),
        ["spec.tasks[1]: Duplicate value"],
    ),
    (
        "batch-size-with-tasks",
        batchjob("x", range=None, tasks=TWO_TASKS, batchSize=2),
        ["spec.batchSize: Invalid value", "spec.batchSize applies to items and range only"],
    ),
    ("parallelism-zero", batchjob("x", parallelism=0), ["spec.parallelism: Invalid value"]),
    ("empty-items", batchjob("x", range=None, items=[]), ["spec.items: Invalid value"]),
    (
        "duplicate-depends-on",
        batchjob("x", dependsOn=["a", "a"]),
        ["spec.dependsOn[1]: Duplicate value"],
    ),
    (
        "bad-task-name",
        batchjob("x", range=None, tasks=[{"name": "Not A Label"}]),
        ["spec.tasks[0].name: Invalid value", "should match"],
    ),
    (
        "name-too-long-for-task-labels",
        batchjob("x" * 64),
        ["metadata.name of a BatchJob must be at most 63 characters"],
    ),
    (
        "optimistic-without-timeout",
        batchjob("x", claim="Optimistic"),
        ["spec.claim: Invalid value", "spec.claim Optimistic needs spec.timeoutSeconds"],
    ),
    (
        "optimistic-timeout-beyond-the-lease",
        batchjob("x", claim="Optimistic", timeoutSeconds=60, lease={"durationSeconds": 30}),
        ["spec.claim: Invalid value", "at most spec.lease.durationSeconds"],
    ),
    (
        "optimistic-with-outputs",
        batchjob(
            "x",
            claim="Optimistic",
            timeoutSeconds=10,
            files={"store": "s", "outputs": [{"path": "out.txt"}]},
        ),
        ["spec.claim: Invalid value", "cannot collect spec.files.outputs"],
    ),
    ("unknown-claim-mode", batchjob("x", claim="Eager"), ["spec.claim: Unsupported value"]),
]

HINT = NEW_NAME_HINT
SPLIT_FIXED = "spec.{} is part of the split into Tasks, fixed once the job exists: " + HINT

# (case, manifest as created, manifest as applied next, what kubectl must print)
INVALID_UPDATES: list[tuple[str, Manifest, Manifest, list[str]]] = [
    (
        "cancel-undone",
        batchjob("x", cancel=True),
        batchjob("x", cancel=False),
        ["spec.cancel: Invalid value", "spec.cancel cannot be undone"],
    ),
    (
        "claim-changed",
        batchjob("x"),
        batchjob("x", claim="Optimistic", timeoutSeconds=10),
        ["spec.claim: Invalid value", "spec.claim cannot change once the job exists"],
    ),
    (
        "capability-changed",
        batchjob("x"),
        batchjob("x", capability="other.capability"),
        ["spec.capability: Invalid value", SPLIT_FIXED.format("capability")],
    ),
    (
        "range-changed",
        batchjob("x"),
        batchjob("x", range={"end": 5}),
        ["spec.range: Invalid value", SPLIT_FIXED.format("range")],
    ),
    (
        "batch-size-changed",
        batchjob("x"),
        batchjob("x", batchSize=2),
        ["spec.batchSize: Invalid value", SPLIT_FIXED.format("batchSize")],
    ),
    (
        "task-params-changed",
        batchjob("x", range=None, tasks=[{"name": "a", "params": {"k": 1}}]),
        batchjob("x", range=None, tasks=[{"name": "a", "params": {"k": 2}}]),
        ["spec.tasks: Invalid value", SPLIT_FIXED.format("tasks")],
    ),
    (
        "range-switched-to-items",
        batchjob("x"),
        batchjob("x", range=None, items=[1, 2]),
        ["spec: Invalid value", "spec.tasks, spec.items or spec.range cannot be switched: " + HINT],
    ),
    (
        "params-changed",
        batchjob("x", params={"a": {"b": 1}}),
        batchjob("x", params={"a": {"b": 2}}),
        ["spec.params: Invalid value", SPLIT_FIXED.format("params")],
    ),
    (
        "params-added",
        batchjob("x"),
        batchjob("x", params={"a": 1}),
        ["spec.params: Invalid value", "spec.params cannot be added or removed: " + HINT],
    ),
    (
        "timeout-added",
        batchjob("x"),
        batchjob("x", timeoutSeconds=30),
        ["spec.timeoutSeconds: Invalid value", "spec.timeoutSeconds cannot be added or removed"],
    ),
    (
        "priority-changed",
        batchjob("x"),
        batchjob("x", priority=3),
        ["spec.priority: Invalid value", "spec.priority cannot change once the job exists"],
    ),
]


def _apply(cluster: Cluster, namespace: str, manifest: Manifest) -> Completed:
    return cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False
    )


def _assert_rejected(result: Completed, expected: list[str]) -> None:
    assert result.returncode != 0, f"accepted: {result.stdout}"
    stderr = one_line(result.stderr)
    for text in expected:
        assert text in stderr, stderr


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [case[1:] for case in INVALID_CREATES],
    ids=[case[0] for case in INVALID_CREATES],
)
def test_invalid_batchjob_is_rejected(
    cluster: Cluster, crds: list[str], namespace: str, manifest: Manifest, expected: list[str]
) -> None:
    result = _apply(cluster, namespace, manifest)
    _assert_rejected(result, expected)
    print(result.stderr.strip())  # `pytest -s` shows the messages users get


@pytest.mark.parametrize(
    ("created", "updated", "expected"),
    [case[1:] for case in INVALID_UPDATES],
    ids=[case[0] for case in INVALID_UPDATES],
)
def test_invalid_batchjob_update_is_rejected(
    cluster: Cluster,
    crds: list[str],
    namespace: str,
    created: Manifest,
    updated: Manifest,
    expected: list[str],
) -> None:
    first = _apply(cluster, namespace, created)
    assert first.returncode == 0, first.stderr
    result = _apply(cluster, namespace, updated)
    _assert_rejected(result, expected)
    print(result.stderr.strip())


def test_the_invalid_cases_are_distinct() -> None:
    manifests = [json.dumps(case[1], sort_keys=True) for case in INVALID_CREATES]
    manifests += [json.dumps(case[1:3], sort_keys=True) for case in INVALID_UPDATES]
    assert len(set(manifests)) == len(manifests) >= 12


def test_kubectl_apply_validates_fields_strictly(cluster: Cluster) -> None:
    """The unknown-field case relies on kubectl's default --validate=strict."""
    help_text = cluster.kubectl("apply", "--help").stdout
    assert "--validate='strict'" in help_text


def test_allowed_spec_updates(cluster: Cluster, crds: list[str], namespace: str) -> None:
    """What users may change on a live job: suspend, parallelism, deadlines, cancel."""
    assert _apply(cluster, namespace, batchjob("x")).returncode == 0
    changed = batchjob(
        "x", suspend=True, parallelism=2, deadlines={"activeDeadlineSeconds": 60}, cancel=True
    )
    result = _apply(cluster, namespace, changed)
    assert result.returncode == 0, result.stderr


def _patch_job_status(cluster: Cluster, namespace: str, name: str, status: Manifest) -> Completed:
    return cluster.kubectl(
        "patch",
        "batchjob",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
        check=False,
    )


def test_depends_on_is_fixed_once_the_predecessors_were_met(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    """While the job waits it may be rewired; once the operator latched its predecessors
    (status.dependenciesMetTime), an edit would be ignored, so it is refused."""
    assert _apply(cluster, namespace, batchjob("x", dependsOn=["a"])).returncode == 0
    rewired = _apply(cluster, namespace, batchjob("x", dependsOn=["b"]))
    assert rewired.returncode == 0, rewired.stderr
    met = _patch_job_status(
        cluster, namespace, "x", {"dependenciesMetTime": "2026-01-01T00:00:00Z"}
    )
    assert met.returncode == 0, met.stderr
    for edit in (["a"], None):
        result = _apply(cluster, namespace, batchjob("x", dependsOn=edit))
        _assert_rejected(
            result, ["spec.dependsOn: Invalid value", "spec.dependsOn cannot change once"]
        )
    assert _apply(cluster, namespace, batchjob("x", dependsOn=["b"], suspend=True)).returncode == 0


@pytest.mark.parametrize("final", ["Succeeded", "Failed", "Cancelled"])
def test_a_finished_batchjob_phase_is_final(
    cluster: Cluster, crds: list[str], namespace: str, final: str
) -> None:
    assert _apply(cluster, namespace, batchjob("x")).returncode == 0
    assert _patch_job_status(cluster, namespace, "x", {"phase": "Running"}).returncode == 0
    assert _patch_job_status(cluster, namespace, "x", {"phase": final}).returncode == 0
    result = _patch_job_status(cluster, namespace, "x", {"phase": "Running"})
    _assert_rejected(result, ["status.phase is terminal and cannot change"])


def test_a_status_write_fenced_on_an_older_version_is_refused(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    """What the operator relies on to fence BatchJob status writes: a merge patch of the
    status subresource carrying a stale metadata.resourceVersion is a 409."""
    assert _apply(cluster, namespace, batchjob("x")).returncode == 0
    raw = cluster.kubectl("get", "batchjob", "x", "-n", namespace, "-o", "json").stdout
    seen = json.loads(raw)["metadata"]["resourceVersion"]
    assert _patch_job_status(cluster, namespace, "x", {"phase": "Running"}).returncode == 0
    stale = cluster.kubectl(
        "patch",
        "batchjob",
        "x",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"resourceVersion": seen}, "status": {"phase": "Failed"}}),
        check=False,
    )
    _assert_rejected(stale, ["the object has been modified"])


def test_a_new_batchjob_reads_waiting_before_the_operator_saw_it(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    assert _apply(cluster, namespace, batchjob("x")).returncode == 0
    shown = cluster.kubectl("get", "batchjob", "x", "-n", namespace, "--no-headers").stdout
    assert shown.split()[1] == "Waiting", shown


# --- the lease rules on Task status ---------------------------------------------------


def read_task(cluster: Cluster, namespace: str, name: str) -> Task:
    raw = cluster.kubectl("get", "task", name, "-n", namespace, "-o", "json").stdout
    return Task.model_validate_json(raw)


def json_patch_status(
    cluster: Cluster, namespace: str, name: str, ops: protocol.Patch
) -> Completed:
    return cluster.kubectl(
        "patch",
        "task",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=json",
        "-p",
        json.dumps(ops),
        check=False,
    )


def patch_status(cluster: Cluster, namespace: str, name: str, build: Builder) -> Task:
    """Read the task, build a protocol patch from it, apply it, return the new state."""
    ops = build(read_task(cluster, namespace, name))
    result = json_patch_status(cluster, namespace, name, ops)
    assert result.returncode == 0, result.stderr
    return read_task(cluster, namespace, name)


def claim(holder: str, *, running: bool = True) -> Builder:
    return lambda t: protocol.claim(
        t,
        holder,
        [CAPABILITY],
        NOW,
        duration_seconds=30,
        renew_interval_seconds=10,
        start_running=running,
    )


FENCE_A = protocol.Fence("provider-a", 1)
FENCE_B = protocol.Fence("provider-b", 3)

# (step, the write, (phase, holder, epoch) afterwards): the whole life of one Task.
LEGAL_STEPS: list[tuple[str, Builder, tuple[str, str, int]]] = [
    ('claim: "" -> A with epoch + 1', claim("provider-a"), ("Running", "provider-a", 1)),
    ("renew", lambda t: protocol.renew(FENCE_A, NOW, percent=50), ("Running", "provider-a", 1)),
    (
        'release: A -> "" with epoch + 1',
        lambda t: protocol.release(
            t, FENCE_A, NOW, outcome="Released", reason="Shutdown", hold=False
        ),
        ("Pending", "", 2),
    ),
    (
        "Pending -> Held",
        lambda t: protocol.set_phase(t, TaskPhase.HELD, protocol.HELD_SUSPENDED, NOW),
        ("Held", "", 2),
    ),
    (
        "Held -> Pending",
        lambda t: protocol.set_phase(t, TaskPhase.PENDING, "", NOW),
        ("Pending", "", 2),
    ),
    ("claim into Leased", claim("provider-b", running=False), ("Leased", "provider-b", 3)),
    ("Leased -> Running", lambda t: protocol.start(FENCE_B, 0, NOW), ("Running", "provider-b", 3)),
    (
        "Running -> Succeeded",
        lambda t: protocol.succeed(t, FENCE_B, NOW, TaskResult(exit_code=0)),
        ("Succeeded", "", 4),
    ),
]


def test_legal_lease_transitions_are_allowed(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest("t")))
    for step, build, expected in LEGAL_STEPS:
        task = patch_status(cluster, namespace, "t", build)
        lease = task.status.lease
        assert (task.status.phase, lease.holder, lease.epoch) == expected, step
    assert [(h.holder, h.epoch, h.outcome) for h in task.status.history] == [
        ("provider-a", 1, "Released"),
        ("provider-b", 3, "Succeeded"),
    ]


def _to_held_by_a(cluster: Cluster, namespace: str, name: str) -> None:
    patch_status(cluster, namespace, name, claim("provider-a"))


def _to_succeeded(cluster: Cluster, namespace: str, name: str) -> None:
    _to_held_by_a(cluster, namespace, name)
    patch_status(
        cluster,
        namespace,
        name,
        lambda t: protocol.succeed(
            t, protocol.Fence("provider-a", 1), NOW, TaskResult(exit_code=0)
        ),
    )


def _to_failed_once(cluster: Cluster, namespace: str, name: str) -> None:
    _to_held_by_a(cluster, namespace, name)
    patch_status(
        cluster,
        namespace,
        name,
        lambda t: protocol.fail_attempt(
            t, protocol.Fence("provider-a", 1), NOW, outcome="Failed", reason="NonZeroExit"
        ),
    )


def _stay_new(cluster: Cluster, namespace: str, name: str) -> None:
    pass


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": f"/status/{path}", "value": value}


STAMP = protocol.timestamp(NOW)
SUCCEEDED_ONLY = "status.phase may become Succeeded only from Leased or Running"

# Writes a buggy or hostile client might send: no `test` ops, so only CEL stands in
# the way. (case, how to reach the starting state, the write, part of the message)
ILLEGAL_STATUS_WRITES = [
    (
        "steal",
        _to_held_by_a,
        [_replace("lease/holder", "provider-b"), _replace("lease/epoch", 2)],
        "status.lease.holder may change only through",
    ),
    (
        "epoch-decrease",
        _to_held_by_a,
        [_replace("lease/epoch", 0)],
        "status.lease.epoch must never decrease",
    ),
    (
        "claim-without-epoch-bump",
        _stay_new,
        [_replace("lease/holder", "provider-a")],
        "status.lease.holder may change only with epoch + 1",
    ),
    (
        "release-without-epoch-bump",
        _to_held_by_a,
        [_replace("lease/holder", "")],
        "status.lease.holder may change only with epoch + 1",
    ),
    (
        "terminal-to-running",
        _to_succeeded,
        [_replace("phase", "Running")],
        "status.phase is terminal and cannot change",
    ),
    (
        "attempts-decrease",
        _to_failed_once,
        [_replace("attempts", 0)],
        "status.attempts must never decrease",
    ),
    ("unknown-phase", _stay_new, [_replace("phase", "Done")], "Unsupported value"),
    (
        "claim-straight-into-succeeded",
        _stay_new,
        [
            _replace("lease/holder", "provider-a"),
            _replace("lease/epoch", 1),
            _replace("phase", "Succeeded"),
        ],
        SUCCEEDED_ONLY,
    ),
    (
        "run-first-write-on-a-lease-mode-task",
        _stay_new,
        [
            _replace("lease/epoch", 2),
            _replace(
                "history",
                [
                    {
                        "epoch": 1,
                        "holder": "a",
                        "outcome": "Succeeded",
                        "time": "2026-01-01T00:00:00Z",
                    }
                ],
            ),
            _replace("phase", "Succeeded"),
        ],
        SUCCEEDED_ONLY,
    ),
]


@pytest.mark.parametrize(
    ("setup", "ops", "message"),
    [case[1:] for case in ILLEGAL_STATUS_WRITES],
    ids=[case[0] for case in ILLEGAL_STATUS_WRITES],
)
def test_illegal_lease_transitions_are_rejected(
    cluster: Cluster,
    crds: list[str],
    namespace: str,
    setup: Callable[[Cluster, str, str], None],
    ops: protocol.Patch,
    message: str,
) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest("t")))
    setup(cluster, namespace, "t")
    before = read_task(cluster, namespace, "t")
    result = json_patch_status(cluster, namespace, "t", ops)
    assert result.returncode != 0, "accepted"
    assert message in one_line(result.stderr), result.stderr
    print(result.stderr.strip())
    assert read_task(cluster, namespace, "t").status == before.status


def test_a_stale_holder_is_fenced_off(cluster: Cluster, crds: list[str], namespace: str) -> None:
    """After its lease moved on, the old holder's writes fail their `test` ops."""
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest("t")))
    _to_failed_once(cluster, namespace, "t")  # A's lease ended at epoch 1
    before = read_task(cluster, namespace, "t")
    result = json_patch_status(
        cluster, namespace, "t", protocol.renew(protocol.Fence("provider-a", 1), NOW)
    )
    assert result.returncode != 0
    assert read_task(cluster, namespace, "t").status == before.status


def _run_first(holder: str, build: Callable[[Task, protocol.Unclaimed], protocol.Patch]) -> Builder:
    """The one write of a task run before it was claimed: claim and final write together."""

    def write(task: Task) -> protocol.Patch:
        claimed, fencing = protocol.run_first(task, holder, NOW)
        return [*build(claimed, fencing), protocol.started_at(NOW)]

    return write


def _succeeded_first(holder: str) -> Builder:
    return _run_first(
        holder, lambda t, fencing: protocol.succeed(t, fencing, NOW, TaskResult(exit_code=0))
    )


def _optimistic_task(cluster: Cluster, namespace: str, name: str) -> None:
    manifest = make_task(name, CAPABILITY).spec(claim="Optimistic").obj()
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def test_an_optimistic_task_is_claimed_and_reported_in_one_write(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    _optimistic_task(cluster, namespace, "t")
    failed = _run_first(
        "provider-a",
        lambda t, fencing: protocol.fail_attempt(
            t, fencing, NOW, outcome="Failed", reason="NonZeroExit", backoff_seconds=0
        ),
    )
    task = patch_status(cluster, namespace, "t", failed)
    assert (task.status.phase, task.status.lease.holder, task.status.lease.epoch) == (
        "Pending",
        "",
        2,
    )
    assert task.status.attempts == 1
    task = patch_status(cluster, namespace, "t", _succeeded_first("provider-b"))
    assert (task.status.phase, task.status.lease.holder, task.status.lease.epoch) == (
        "Succeeded",
        "",
        4,
    )
    assert task.status.start_time == NOW
    assert [(h.holder, h.epoch, h.outcome) for h in task.status.history] == [
        ("provider-a", 1, "Failed"),
        ("provider-b", 3, "Succeeded"),
    ]


def test_a_run_first_write_loses_to_a_claim_made_meanwhile(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    _optimistic_task(cluster, namespace, "t")
    seen = read_task(cluster, namespace, "t")  # the run starts from this state
    patch_status(cluster, namespace, "t", claim("provider-b"))
    before = read_task(cluster, namespace, "t")
    result = json_patch_status(cluster, namespace, "t", _succeeded_first("provider-a")(seen))
    assert result.returncode != 0, "a second result was accepted"
    assert read_task(cluster, namespace, "t").status == before.status


def test_a_run_first_write_cannot_land_on_a_cancelled_task(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    """The job was cancelled while the run was under way: the operator cancelled the
    free Pending task, and the run's one write fails its test ops."""
    _optimistic_task(cluster, namespace, "t")
    seen = read_task(cluster, namespace, "t")
    patch_status(
        cluster,
        namespace,
        "t",
        lambda t: protocol.set_phase(t, TaskPhase.CANCELLED, "JobCancelled", NOW),
    )
    result = json_patch_status(cluster, namespace, "t", _succeeded_first("provider-a")(seen))
    assert result.returncode != 0, "a result landed on a cancelled task"
    task = read_task(cluster, namespace, "t")
    assert (task.status.phase, task.status.result, task.status.history) == ("Cancelled", None, [])


# --- defaults: what the "providers watch only Pending tasks" design rests on ----------


def test_new_task_reads_back_pending_and_free(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    created = json.loads(
        cluster.kubectl(
            "create",
            "-n",
            namespace,
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(task_manifest("fresh")),
        ).stdout
    )
    read = json.loads(cluster.kubectl("get", "task", "fresh", "-n", namespace, "-o", "json").stdout)
    for obj in (created, read):
        assert obj["status"]["phase"] == "Pending"
        assert obj["status"]["lease"]["holder"] == ""
        assert obj["status"]["lease"]["epoch"] == 0
        assert obj["status"]["attempts"] == 0


def test_field_selectors_see_the_defaulted_phase(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    for name, capability in (("mine", "cap-x"), ("other", "cap-y")):
        cluster.kubectl(
            "create", "-n", namespace, "-f", "-", input=json.dumps(task_manifest(name, capability))
        )

    def selected(selector: str) -> list[str]:
        out = cluster.kubectl(
            "get", "tasks", "-n", namespace, "--field-selector", selector, "-o", "name"
        ).stdout
        return sorted(out.split())

    assert selected("status.phase=Pending,spec.capability=cap-x") == ["task.taskmill.io/mine"]
    assert selected("status.phase=Pending") == ["task.taskmill.io/mine", "task.taskmill.io/other"]
    assert selected("status.phase=Held") == []
    assert selected("spec.batchJob=job,status.lease.holder=") == [
        "task.taskmill.io/mine",
        "task.taskmill.io/other",
    ]


def test_a_pending_watch_sees_new_tasks_and_tasks_leaving_pending(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    """A provider's watch: a Task created without status arrives as ADDED; once it is
    Held it leaves the selection (DELETED); back to Pending it is ADDED again."""
    events, writes = asyncio.run(asyncio.wait_for(_watch_pending(cluster, namespace), timeout=60))
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "w"),
        ("DELETED", "w"),
        ("ADDED", "w"),
    ]
    assert events[0].object["status"]["phase"] == "Pending"
    assert events[0].object["status"]["lease"] == {"holder": "", "epoch": 0}
    # Each event is the one for the write that moved the task in or out. (DELETED
    # carries the task's last content that matched the selector, not the Held state.)
    versions = [e.object["metadata"]["resourceVersion"] for e in events]
    assert versions == [w["metadata"]["resourceVersion"] for w in writes]
    assert events[2].object["status"]["phase"] == "Pending"


async def _watch_pending(
    cluster: Cluster, namespace: str
) -> tuple[list[WatchEvent], list[dict[str, Any]]]:
    selector = "status.phase=Pending,spec.capability=cap-w"
    collection = TASKS.path(namespace)
    status = TASKS.path(namespace, "w", "status")
    async with Kube(load_connection(str(cluster.kubeconfig))) as kube:
        listed = await kube.list_objects(collection, fieldSelector=selector)
        assert listed["items"] == []
        stream = kube.watch(
            collection,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=50,
            fieldSelector=selector,
        )

        async def next_event() -> WatchEvent:
            async for event in stream:
                if event.type != "BOOKMARK":
                    return event
            raise AssertionError("the watch ended early")

        created = await kube.create(collection, task_manifest("w", "cap-w"))
        added = await next_event()
        hold = protocol.set_phase(
            Task.model_validate(created), TaskPhase.HELD, protocol.HELD_SUSPENDED, NOW
        )
        held = await kube.json_patch(status, hold)
        deleted = await next_event()
        release = protocol.set_phase(Task.model_validate(held), TaskPhase.PENDING, "", NOW)
        pending = await kube.json_patch(status, release)
        added_again = await next_event()
        return [added, deleted, added_again], [created, held, pending]
