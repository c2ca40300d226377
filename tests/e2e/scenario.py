"""The end-to-end scenario, on any cluster that runs the project image: taskmill installed
the way users install it, operator and providers running as pods.

test_kind.py (a kind cluster, Docker) and test_kubelet.py (the harness's kubelet mode)
each bring a cluster with the image loaded and the chart values their network needs,
and call run(). Every wait polls a condition with a timeout.
"""

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import obstore
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.cluster import Cluster
from tests.harness.objectstore import ObjectStore
from tests.harness.polling import wait_for
from tests.harness.versions import REPO_ROOT, Binaries
from tests.unit.chart.helm import CHART, values_file

NAMESPACE = "taskmill"
RELEASE = "tm"
FULLNAME = "tm-taskmill"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
POOL = "echo"
CAPABILITY = "demo.echo"  # what examples/ use
EXAMPLE = REPO_ROOT / "examples" / "items-batched.yaml"
EXAMPLE_JOB = "urls"
CRDS = ("batchjobs.taskmill.io", "tasks.taskmill.io", "providerpools.taskmill.io")
# Prints the task's params, writes each file of params.upper (source -> destination, in
# the working directory) upper-cased, then sleeps for params.sleepSeconds (a task to
# interrupt).
ECHO = (
    "import json, sys, time; p = json.load(sys.stdin); print('echo', json.dumps(p));"
    " [open(d, 'w').write(open(s).read().upper()) for s, d in p.get('upper', {}).items()];"
    " sys.stdout.flush(); time.sleep(p.get('sleepSeconds', 0))"
)
STORE = "e2e"
STORE_SECRET = "store-e2e"
T = TypeVar("T")
READY_TIMEOUT = 240.0
JOB_TIMEOUT = 180.0
# Run in a provider pod: claims a Task for another pod with the pod's own token.
FOREIGN_CLAIM = Path(__file__).with_name("foreign_claim.py")


def values(
    image: Mapping[str, str], environment: Mapping[str, Any], store: ObjectStore | None = None
) -> dict[str, Any]:
    """The chart values of the scenario: one provider pool of at most one pod (so it
    fits a one-node cluster whose pods share the node's ports), plus what the cluster
    needs (`environment`: network, ports, env), merged over them; with `store` (an object
    store the pods reach) the pools get it as their default store."""
    pool = {
        "name": POOL,
        "capabilities": [CAPABILITY],
        "command": ["python", "-c", ECHO],
        "minReplicas": 1,
        "maxReplicas": 1,
        "concurrency": 2,
        # A deleted pod stops its work at once and hands the leases back.
        "graceSeconds": 1,
        "killGraceSeconds": 1,
        **environment.get("pool", {}),
    }
    chart = {key: value for key, value in environment.items() if key != "pool"}
    if store is not None:
        chart["objectStores"] = {
            "default": STORE,
            "stores": {
                STORE: {
                    "endpoint": store.endpoint,
                    "bucket": store.bucket,
                    "credentialsSecret": STORE_SECRET,
                }
            },
        }
    return {
        **chart,
        "image": {**image, "pullPolicy": "Never"},
        "providers": {"pools": [pool]},
    }


def run(
    cluster: Cluster, chart_values: Mapping[str, Any], store: ObjectStore | None = None
) -> None:
    """The whole scenario; on failure, what the cluster shows is added to the error.
    With `store` (the one `values` was given) a job's files also travel through it."""
    try:
        _scenario(cluster, chart_values, store)
    except BaseException as e:
        e.add_note(_diagnostics(cluster))
        raise


def _scenario(cluster: Cluster, chart_values: Mapping[str, Any], store: ObjectStore | None) -> None:
    helm = Helm(cluster)
    if store is not None:
        _store_secret(cluster, store)
    helm(
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        values=chart_values,
    )

    # The operator is Ready through its real readiness probe (GET /readyz).
    _wait(lambda: _available(cluster, f"{FULLNAME}-operator"), "the operator Deployment Available")
    # The chart's ProviderPool runs the provider Deployment's pods.
    _wait(lambda: _pool_ready(cluster), "the ProviderPool Ready with a Ready provider pod")

    # A BatchJob from examples/ succeeds on the pool's pods.
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLE))
    _wait_complete(cluster, EXAMPLE_JOB)
    tasks = _tasks(cluster, EXAMPLE_JOB)
    assert tasks, "the example job made no Tasks"
    for task in tasks:
        assert task["status"]["phase"] == "Succeeded", task["status"]
        assert task["status"]["result"]["output"].startswith("echo "), task["status"]["result"]

    # `kubectl logs` of a provider shows the work it did.
    done_by = {t["metadata"]["name"]: _holders(t, "Succeeded")[-1] for t in tasks}
    for name, pod in done_by.items():
        logs = cluster.kubectl("logs", "-n", NAMESPACE, pod).stdout
        assert f"task {name}: reported" in logs, f"{pod} logs lack task {name}:\n{logs}"

    if store is not None:
        _files_travel_through_the_store(cluster, store)
    _metrics_served_from_pods(cluster, len(tasks))
    _deleted_provider_hands_work_back(cluster)
    _foreign_lease_write_refused(cluster)

    # Uninstalling leaves the CRDs (and with them every BatchJob and Task).
    helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
    assert not _exists(cluster, "deployment", f"{FULLNAME}-operator", NAMESPACE)
    for crd in CRDS:
        assert _exists(cluster, "crd", crd), f"helm uninstall deleted CRD {crd}"
    assert _exists(cluster, "batchjob", EXAMPLE_JOB, NAMESPACE)


def _metrics_served_from_pods(cluster: Cluster, tasks: int) -> None:
    """The operator's and the provider's pods serve their metrics, scraped through the API
    server's pod proxy (any cluster's network reaches them that way): the operator says it
    leads, and the pool's one provider counts the example's tasks as succeeded."""
    operator = _scrape(cluster, f"app.kubernetes.io/component=operator,{INSTANCE}")
    assert operator[("taskmill_leader", frozenset())] == 1.0, operator
    provider = _scrape(cluster, f"taskmill.io/pool={POOL},{INSTANCE}")
    succeeded = sum(
        value
        for (name, labels), value in provider.items()
        if name == "taskmill_provider_tasks_total" and ("outcome", "succeeded") in labels
    )
    assert succeeded >= tasks, provider


def _scrape(cluster: Cluster, selector: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples a Ready pod of `selector` serves on its `metrics` port."""
    pod = _wait(lambda: _ready_pod(cluster, selector), f"a Ready pod of {selector}")
    port = next(
        p["containerPort"]
        for c in pod["spec"]["containers"]
        for p in c.get("ports", [])
        if p["name"] == "metrics"
    )
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}:{port}/proxy/metrics"
    text = cluster.kubectl("get", "--raw", path).stdout
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _store_secret(cluster: Cluster, store: ObjectStore) -> None:
    """The store's credentials as the Secret the chart mounts into the pools (made before
    the install: a pod whose Secret is missing does not start)."""
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "-n",
        NAMESPACE,
        STORE_SECRET,
        f"--from-literal=accessKeyId={store.access_key_id}",
        f"--from-literal=secretAccessKey={store.secret_access_key}",
    )


def _files_travel_through_the_store(cluster: Cluster, store: ObjectStore) -> None:
    """A job's input object is staged into a provider pod's working directory, and the
    file its command writes is uploaded under the job's key, its manifest on the Task:
    the chart's stores file and the mounted Secret at work."""
    job, text = "files", b"taskmill e2e: files travel through the store\n"
    client = store.client()
    obstore.put(client, "e2e/in.txt", text)
    manifest = {
        "inputs": [{"source": "e2e/in.txt", "path": "in.txt"}],
        "outputs": [{"path": "out.txt"}],
    }
    _apply_job(
        cluster, job, CAPABILITY, ["x"], params={"upper": {"in.txt": "out.txt"}}, files=manifest
    )
    _wait_complete(cluster, job)

    manifest = _task(cluster, f"{job}-0")["status"]["result"]["files"]
    assert [i["sha256"] for i in manifest["inputs"]] == [hashlib.sha256(text).hexdigest()]
    outputs = manifest["outputs"]
    assert [o["path"] for o in outputs] == ["out.txt"], outputs
    stored = bytes(obstore.get(client, outputs[0]["key"]).bytes())
    assert stored == text.upper(), stored
    assert outputs[0]["sha256"] == hashlib.sha256(text.upper()).hexdigest(), outputs


def _deleted_provider_hands_work_back(cluster: Cluster) -> None:
    """A provider pod deleted while its task runs releases the lease; the pool's next pod
    runs the task, and the job succeeds."""
    job = "handback"
    _apply_job(cluster, job, CAPABILITY, ["slow"], params={"sleepSeconds": 30})
    task = f"{job}-0"

    def running_holder() -> str | None:
        status = _task(cluster, task).get("status", {})
        holder: str = status.get("lease", {}).get("holder", "")
        if status.get("phase") != "Running" or not holder:
            return None
        started = cluster.kubectl("logs", "-n", NAMESPACE, holder, check=False).stdout
        return holder if f"task {task}: started" in started else None

    victim = _wait(running_holder, f"{task} running on a provider pod")
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait=false")
    _wait_complete(cluster, job)
    status = _task(cluster, task)["status"]
    assert victim in _holders(_task(cluster, task), "Released"), status["history"]
    assert _holders(_task(cluster, task), "Succeeded")[-1] != victim, status["history"]


def _foreign_lease_write_refused(cluster: Cluster) -> None:
    """A provider pod that claims a free Task for another pod, with its own projected
    token, is refused by the chart's ValidatingAdmissionPolicy."""
    job = "unserved"
    _apply_job(cluster, job, "e2e.unserved", ["x"])
    task = f"{job}-0"
    _wait(
        lambda: _task(cluster, task).get("status", {}).get("phase") == "Pending", f"{task} Pending"
    )
    pod = _wait(lambda: _ready_provider(cluster), "a Ready provider pod")
    exec_in_pod = ("exec", "-n", NAMESPACE, pod, "--", "python", "-c", FOREIGN_CLAIM.read_text())
    done = cluster.kubectl(*exec_in_pod, NAMESPACE, task, "someone-else")
    status, _, body = done.stdout.partition("\n")
    assert status == "403", done.stdout
    assert "may only claim a free lease for itself" in body, body
    assert _task(cluster, task)["status"]["lease"].get("holder", "") == ""
    cluster.kubectl("delete", "batchjob", "-n", NAMESPACE, job)


# ---- helpers ----


class Helm:
    """The pinned helm against `cluster`, failing with its output."""

    def __init__(self, cluster: Cluster) -> None:
        self.env = cluster.env
        self.binary = str(Binaries.locate().helm)

    def __call__(self, *args: str, values: Mapping[str, Any] | None = None) -> None:
        with values_file(values or {}) as path:
            done = subprocess.run(
                [self.binary, *args, "--values", str(path)] if values else [self.binary, *args],
                capture_output=True,
                text=True,
                env=self.env,
                timeout=READY_TIMEOUT,
                check=False,
            )
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _wait(condition: Callable[[], T | None], what: str, timeout: float = READY_TIMEOUT) -> T:
    return wait_for(condition, timeout=timeout, what=what, interval=1.0)


def _get(cluster: Cluster, *args: str) -> dict[str, Any]:
    got = cluster.kubectl("get", "-n", NAMESPACE, *args, "-o", "json", check=False)
    if got.returncode != 0:
        return {}
    parsed: dict[str, Any] = json.loads(got.stdout)
    return parsed


def _exists(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> bool:
    where = ("-n", namespace) if namespace else ()
    return cluster.kubectl("get", *where, kind, name, check=False).returncode == 0


def _condition(obj: Mapping[str, Any], kind: str) -> str:
    conditions = obj.get("status", {}).get("conditions", [])
    return next((c["status"] for c in conditions if c["type"] == kind), "")


def _available(cluster: Cluster, deployment: str) -> bool:
    return _condition(_get(cluster, "deployment", deployment), "Available") == "True"


def _ready_pod(cluster: Cluster, selector: str) -> dict[str, Any] | None:
    pods = _get(cluster, "pods", f"-l={selector}").get("items", [])
    ready = [
        p
        for p in pods
        if _condition(p, "Ready") == "True" and not p["metadata"].get("deletionTimestamp")
    ]
    return ready[0] if ready else None


def _ready_provider(cluster: Cluster) -> str | None:
    pod = _ready_pod(cluster, f"taskmill.io/pool={POOL}")
    return pod["metadata"]["name"] if pod else None


def _pool_ready(cluster: Cluster) -> bool:
    pool = _get(cluster, "providerpool", f"{FULLNAME}-{POOL}")
    return _condition(pool, "Ready") == "True" and _ready_provider(cluster) is not None


def _apply_job(
    cluster: Cluster,
    name: str,
    capability: str,
    items: list[Any],
    params: Mapping[str, Any] | None = None,
    files: Mapping[str, Any] | None = None,
) -> None:
    spec = {"capability": capability, "items": items, "params": dict(params or {})}
    job = {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "BatchJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {**spec, "files": dict(files)} if files else spec,
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(job))


def _wait_complete(cluster: Cluster, job: str) -> None:
    def finished() -> str | None:
        got = _get(cluster, "batchjob", job)
        if "True" not in (_condition(got, "Complete"), _condition(got, "Failed")):
            return None
        phase: str = got["status"].get("phase", "?")
        return phase

    phase = _wait(finished, f"BatchJob {job} finished", JOB_TIMEOUT)
    assert phase == "Succeeded", _get(cluster, "batchjob", job).get("status")


def _tasks(cluster: Cluster, job: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _get(cluster, "tasks", f"-l=taskmill.io/batchjob={job}").get(
        "items", []
    )
    return items


def _task(cluster: Cluster, name: str) -> dict[str, Any]:
    return _get(cluster, "task", name)


def _phase(cluster: Cluster, task: str) -> str:
    phase: str = _task(cluster, task).get("status", {}).get("phase", "")
    return phase


def _holders(task: Mapping[str, Any], outcome: str) -> list[str]:
    history = task.get("status", {}).get("history", [])
    return [h["holder"] for h in history if h["outcome"] == outcome]


def _diagnostics(cluster: Cluster) -> str:
    """What the cluster shows: objects, pod events, the operator's and providers' logs."""
    sections = [
        (
            "objects",
            ("get", "-A", "-o", "wide", "nodes,pods,deployments,batchjobs,tasks,providerpools"),
        ),
        ("pods", ("describe", "pods", "-n", NAMESPACE)),
        ("operator", ("logs", "-n", NAMESPACE, f"deploy/{FULLNAME}-operator", "--tail=40")),
        (
            "providers",
            ("logs", "-n", NAMESPACE, f"-l=taskmill.io/pool={POOL}", "--tail=40", "--prefix"),
        ),
    ]
    out = [f"--- {time.strftime('%H:%M:%S')} cluster state"]
    for title, args in sections:
        try:
            done = cluster.kubectl(*args, check=False)
        except subprocess.TimeoutExpired:
            continue
        out.append(f"--- {title}\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
    return "\n".join(out)
