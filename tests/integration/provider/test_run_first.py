"""Optimistic claims (spec.claim Optimistic) with the real operator and provider processes:
two writes per task, one result when providers race, none on a cancelled job."""

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from taskmill.api.meta import LABEL_NOMINEE
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.metrics import diff, request_counts, scrape
from tests.harness.polling import wait_for
from tests.harness.ports import free_ports
from tests.integration.provider.kit import Providers
from tests.integration.provider.test_with_operator import apply, job_phase, job_tasks

pytestmark = pytest.mark.integration

CAPABILITY = "quick"
ACCEPTED = "claimed and reported in one write"


def optimistic_job(name: str, tasks: int) -> dict[str, Any]:
    return (
        make_batchjob(name, CAPABILITY)
        .spec(range={"end": tasks}, claim="Optimistic", timeoutSeconds=30)
        .obj()
    )


def gated_command(gate_dir: Path) -> list[str]:
    """Work that records that it started, then runs until the test opens the gate."""
    script = (
        'mktemp "$0/started.XXXXXX" >/dev/null; '
        'while [ ! -e "$0/go" ]; do sleep 0.05; done; echo done'
    )
    return ["sh", "-c", script, str(gate_dir)]


def started_runs(gate_dir: Path) -> int:
    return len(list(gate_dir.glob("started.*")))


def test_an_optimistic_job_costs_two_writes_per_task(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    tasks = 30
    providers.start_operator()
    providers.start("solo", CAPABILITY, ["sh", "-c", "echo ok"], concurrency=4)
    before = request_counts(cluster.metrics())
    apply(cluster, namespace, optimistic_job("cheap", tasks))
    wait_for(lambda: job_phase(cluster, namespace, "cheap") == "Succeeded", timeout=120, what="job")
    calls = diff(before, request_counts(cluster.metrics()))

    # Create (operator) and the one claim-and-result write (provider): nothing else.
    assert calls[("POST", "tasks", "")] == tasks
    assert calls[("PATCH", "tasks", "status")] == tasks
    assert calls[("PATCH", "tasks", "")] == 0
    assert calls[("PUT", "tasks", "status")] == 0
    for task in job_tasks(cluster, namespace, "cheap"):
        status = task.status
        assert (status.phase, status.lease.holder, status.lease.epoch) == ("Succeeded", "", 2)
        assert [(h.holder, h.epoch, h.outcome) for h in status.history] == [
            ("solo", 1, "Succeeded")
        ]
        assert status.start_time is not None
        assert status.result is not None
        assert status.result.output.strip() == "ok"
    # Counted once each, though no Task was ever seen Leased or Running.
    job = json.loads(
        cluster.kubectl("get", "batchjob", "cheap", "-n", namespace, "-o", "json").stdout
    )
    assert job["status"]["counts"]["succeeded"] == tasks
    assert job["status"]["counts"]["leased"] == 0
    assert job["status"]["progress"] == f"{tasks}/{tasks}"
    assert job["status"].get("startTime")


def test_two_providers_racing_on_one_task_get_one_result_accepted(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    providers.start_operator()
    # Made while no provider was live, the task is nominated to nobody: both run it.
    apply(cluster, namespace, optimistic_job("raced", 1))
    [task] = wait_for(lambda: job_tasks(cluster, namespace, "raced"), timeout=60, what="task")
    assert LABEL_NOMINEE not in task.metadata.labels
    racers = [providers.start(name, CAPABILITY, gated_command(gate)) for name in ("p-a", "p-b")]
    wait_for(lambda: started_runs(gate) == 2, timeout=60, what="both providers to run the task")
    (gate / "go").touch()
    wait_for(lambda: job_phase(cluster, namespace, "raced") == "Succeeded", timeout=60, what="job")

    [task] = job_tasks(cluster, namespace, "raced")
    [entry] = task.status.history  # one result accepted
    winner = next(r for r in racers if r.identity == entry.holder)
    loser = next(r for r in racers if r is not winner)
    assert ACCEPTED in winner.log_text()
    # The loser's write was refused, or its run stopped first when the task left Pending.
    wait_for(
        lambda: (
            "run-first result dropped" in loser.log_text()
            or "run stopped (Gone); nothing written" in loser.log_text()
        ),
        timeout=30,
        what="the losing run to be discarded",
    )
    assert ACCEPTED not in loser.log_text()
    assert (task.status.lease.epoch, task.status.attempts) == (2, 0)


def test_an_optimistic_task_runs_on_its_nominee_and_nowhere_else(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    port = operator_seeing_providers(providers, tmp_path, "p-a", "p-b")
    gates = {name: tmp_path / name for name in ("p-a", "p-b")}
    wait_for(lambda: seen_providers(port) == 2, timeout=60, what="the operator to see both")
    apply(cluster, namespace, optimistic_job("nominated", 1))

    def runs() -> dict[str, int] | None:
        counts = {name: started_runs(gate) for name, gate in gates.items()}
        return counts if any(counts.values()) else None

    first = wait_for(runs, timeout=60, what="a first run", interval=0.05)
    [task] = job_tasks(cluster, namespace, "nominated")
    nominee = task.metadata.labels[LABEL_NOMINEE]
    other = next(name for name in gates if name != nominee)
    assert first == {nominee: 1, other: 0}
    (gates[nominee] / "go").touch()
    wait_for(
        lambda: job_phase(cluster, namespace, "nominated") == "Succeeded", timeout=60, what="job"
    )
    # The other provider waits the task's timeoutSeconds and more before it runs
    # another's nominee: one that ran it would have finished by then.
    assert started_runs(gates[other]) == 0


def test_a_stopped_nominees_task_runs_elsewhere_once_its_run_would_have_ended(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    port = operator_seeing_providers(providers, tmp_path, "p-a")
    wait_for(lambda: seen_providers(port) == 1, timeout=60, what="the operator to see p-a")
    [stopped] = [p for p in providers.started if p.identity == "p-a"]
    stopped.signal(signal.SIGSTOP)  # live to the operator, but runs nothing
    job = make_batchjob("orphan", CAPABILITY).spec(range={"end": 1}, claim="Optimistic")
    apply(cluster, namespace, job.spec(timeoutSeconds=2).obj())
    wait_for(lambda: job_tasks(cluster, namespace, "orphan"), timeout=60, what="the task")
    [task] = job_tasks(cluster, namespace, "orphan")
    assert task.metadata.labels[LABEL_NOMINEE] == "p-a"
    providers.start("p-b", CAPABILITY, ["sh", "-c", "echo ok"])
    wait_for(lambda: job_phase(cluster, namespace, "orphan") == "Succeeded", timeout=60, what="job")
    [task] = job_tasks(cluster, namespace, "orphan")
    assert [h.holder for h in task.status.history] == ["p-b"]
    stopped.signal(signal.SIGCONT)


def operator_seeing_providers(providers: Providers, tmp_path: Path, *names: str) -> int:
    """The operator (its metrics port returned), and providers of gated work."""
    [port] = free_ports(1)
    providers.start_operator(metrics_port=port)
    for name in names:
        gate = tmp_path / name
        gate.mkdir()
        providers.start(name, CAPABILITY, gated_command(gate))
    return port


def seen_providers(port: int) -> float:
    """Live providers of CAPABILITY as the operator counts them."""
    line = f'taskmill_providers{{capability="{CAPABILITY}"}} '
    try:
        text = scrape(port)
    except OSError:  # not serving yet
        return 0.0
    found = [x for x in text.splitlines() if x.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_a_cancelled_job_takes_no_result_from_a_run_under_way(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    providers.start_operator()
    provider = providers.start("solo", CAPABILITY, gated_command(gate))
    apply(cluster, namespace, optimistic_job("doomed", 1))
    wait_for(lambda: started_runs(gate) == 1, timeout=60, what="the run to start")
    cluster.kubectl(
        "patch", "batchjob", "doomed", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"cancel": True}}),
    )  # fmt: skip
    wait_for(lambda: job_phase(cluster, namespace, "doomed") == "Cancelled", timeout=60, what="job")
    (gate / "go").touch()  # if the run were still going, it would finish now
    wait_for(
        lambda: (
            "nothing written" in provider.log_text()
            or "run-first result dropped" in provider.log_text()
        ),
        timeout=30,
        what="the run to end without a result",
    )
    [task] = job_tasks(cluster, namespace, "doomed")
    assert (task.status.phase, task.status.result, task.status.history) == ("Cancelled", None, [])
    assert ACCEPTED not in provider.log_text()
