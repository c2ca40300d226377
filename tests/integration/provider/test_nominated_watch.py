"""Providers that watch only their own nominees and nobody's (--pending-watch
nominated), with the real operator and provider processes: they still find the work
queued behind a busy provider, and the work of one that is gone."""

import signal
from pathlib import Path

import pytest

from taskmill.api.meta import LABEL_NOMINEE
from taskmill.api.task import Task
from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.harness.ports import free_ports
from tests.integration.provider.kit import Providers
from tests.integration.provider.test_run_first import (
    CAPABILITY,
    gated_command,
    seen_providers,
)
from tests.integration.provider.test_with_operator import apply, job_phase, job_tasks

pytestmark = pytest.mark.integration

NOMINATED = ["--pending-watch", "nominated"]


def held_by(tasks: list[Task]) -> dict[str, str]:
    return {t.metadata.name: t.status.lease.holder for t in tasks if t.status.lease.holder}


def holding(cluster: Cluster, namespace: str, job: str, held: int) -> list[Task] | None:
    """The job's Tasks once `held` of them are held."""
    tasks = job_tasks(cluster, namespace, job)
    return tasks if len(held_by(tasks)) == held else None


def run_job(
    cluster: Cluster, namespace: str, port: int, providers: int, job: str, tasks: int
) -> list[Task]:
    """Once the operator sees `providers`, a job of `tasks`; its Tasks once each
    provider holds one."""
    wait_for(lambda: seen_providers(port) == providers, timeout=60, what="the operator to see all")
    apply(cluster, namespace, make_batchjob(job, CAPABILITY).spec(range={"end": tasks}).obj())
    return wait_for(
        lambda: holding(cluster, namespace, job, providers),
        timeout=60,
        what="each provider to hold one of its nominees",
    )


def test_a_hungry_provider_takes_what_waits_behind_a_busy_one(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    port = operator_port(providers)
    providers.start("p-busy", CAPABILITY, gated_command(gate), extra=NOMINATED)
    # Every task is p-busy's nominee; it holds one and cannot take the others.
    tasks = run_job(cluster, namespace, port, 1, "queued", 3)
    assert {t.metadata.labels.get(LABEL_NOMINEE) for t in tasks} == {"p-busy"}

    # A provider with no nominee of its own watches p-busy's, and takes the two waiting.
    providers.start("p-idle", CAPABILITY, ["sh", "-c", "echo ok"], extra=NOMINATED)
    wait_for(
        lambda: (
            sorted(
                t.status.history[-1].holder
                for t in job_tasks(cluster, namespace, "queued")
                if t.status.phase == "Succeeded"
            )
            == ["p-idle", "p-idle"]
        ),
        timeout=60,
        what="p-idle to run the two tasks p-busy could not take",
    )
    (gate / "go").touch()
    wait_for(lambda: job_phase(cluster, namespace, "queued") == "Succeeded", timeout=60, what="job")


def test_the_nominees_of_a_provider_that_is_gone_are_everyones(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    gates = {name: tmp_path / name for name in ("p-a", "p-b")}
    port = operator_port(providers)
    started = {}
    for name, gate in gates.items():
        gate.mkdir()
        started[name] = providers.start(
            name, CAPABILITY, gated_command(gate), lease_seconds=5, extra=NOMINATED
        )
    tasks = run_job(cluster, namespace, port, 2, "orphans", 4)
    nominees = {t.metadata.name: t.metadata.labels[LABEL_NOMINEE] for t in tasks}
    assert sorted(nominees.values()) == ["p-a", "p-a", "p-b", "p-b"]
    assert all(nominees[name] == holder for name, holder in held_by(tasks).items())
    waiting = next(
        t.metadata.name for t in tasks if nominees[t.metadata.name] == "p-b" and not held_by([t])
    )

    started["p-b"].signal(signal.SIGKILL)
    # Its presence lapses: the operator takes the nomination off its Pending task, which
    # p-a (busy, with a nominee of its own waiting) would otherwise never be told of.
    wait_for(
        lambda: (
            LABEL_NOMINEE
            not in next(
                t for t in job_tasks(cluster, namespace, "orphans") if t.metadata.name == waiting
            ).metadata.labels
        ),
        timeout=60,
        what="the nomination of the gone provider's Pending task to be taken off",
    )
    (gates["p-a"] / "go").touch()
    wait_for(
        lambda: job_phase(cluster, namespace, "orphans") == "Succeeded", timeout=90, what="job"
    )
    runs = [h.holder for t in job_tasks(cluster, namespace, "orphans") for h in t.status.history]
    assert runs.count("p-a") == 4  # its two, the orphan, and p-b's lost one again


def test_a_task_that_outranks_the_queue_is_everyones(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    gates = {name: tmp_path / name for name in ("p-a", "p-b")}
    port = operator_port(providers)
    for name, gate in gates.items():
        gate.mkdir()
        providers.start(name, CAPABILITY, gated_command(gate), extra=NOMINATED)
    # Each holds one of its bulk nominees, and has one more queued.
    tasks = run_job(cluster, namespace, port, 2, "bulk", 4)
    queued = {t.metadata.labels[LABEL_NOMINEE]: t.metadata.name for t in tasks if not held_by([t])}
    assert sorted(queued) == ["p-a", "p-b"]

    # Nominated, it would be p-a's (the first of the ring), and p-b, busy with its own
    # queue, would never see it: it would run its bulk task first.
    urgent = make_batchjob("urgent", CAPABILITY).spec(range={"end": 1}, priority=10).obj()
    apply(cluster, namespace, urgent)
    [task] = wait_for(
        lambda: job_tasks(cluster, namespace, "urgent"), timeout=60, what="the urgent Task"
    )
    assert LABEL_NOMINEE not in task.metadata.labels

    (gates["p-b"] / "go").touch()
    wait_for(
        lambda: all(
            t.status.phase == "Succeeded"
            for t in job_tasks(cluster, namespace, "bulk") + job_tasks(cluster, namespace, "urgent")
            if t.metadata.name == queued["p-b"] or t.spec.batch_job == "urgent"
        ),
        timeout=60,
        what="p-b to run the urgent task and its queued one",
    )
    [ran] = job_tasks(cluster, namespace, "urgent")
    [behind] = [
        t for t in job_tasks(cluster, namespace, "bulk") if t.metadata.name == queued["p-b"]
    ]
    assert [ran.status.history[-1].holder, behind.status.history[-1].holder] == ["p-b", "p-b"]
    first, then = ran.status.start_time, behind.status.start_time
    assert first is not None
    assert then is not None
    assert first < then  # priority first
    (gates["p-a"] / "go").touch()
    wait_for(lambda: job_phase(cluster, namespace, "bulk") == "Succeeded", timeout=60, what="job")


def operator_port(providers: Providers) -> int:
    """The operator, with its metrics port (to see how many providers it counts)."""
    [port] = free_ports(1)
    providers.start_operator(metrics_port=port)
    return port
