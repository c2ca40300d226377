"""No task lost, no result accepted twice, while providers and the operator are killed.

A small version of the bench's chaos scenario (bench/chaos.py): 150 tasks on five
providers; during the run three providers are SIGKILLed, one is SIGSTOPped past its
lease and resumed, and the operator is kill -9'd and restarted twice.
"""

import asyncio
from pathlib import Path

import pytest

from bench.chaos import SMALL, Outcome, run_chaos
from bench.procs import Launcher
from taskmill.kube import Kube, load_connection
from tests.harness import Cluster

pytestmark = pytest.mark.integration


async def _run(cluster: Cluster, namespace: str, log_dir: Path) -> Outcome:
    launcher = Launcher(cluster.env, log_dir)
    try:
        async with Kube(
            load_connection(str(cluster.kubeconfig)), user_agent="taskmill-chaos"
        ) as kube:
            return await run_chaos(kube, launcher, namespace, SMALL, seed=7, say=print)
    finally:
        launcher.kill_all()


def test_every_task_succeeds_once_under_faults(
    cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path
) -> None:
    outcome = asyncio.run(_run(cluster, namespace, tmp_path))

    assert len(outcome.faults) == len(SMALL.faults), outcome.faults
    assert outcome.job_phase == "Succeeded", outcome
    assert outcome.succeeded == SMALL.tasks
    assert outcome.lost == 0, outcome
    assert outcome.duplicates == 0, outcome
    assert outcome.accepted == SMALL.tasks
    # Both records were read: the providers' logs name the results they saw taken (only
    # a provider SIGKILLed between its write and its log line leaves one unlogged).
    assert outcome.unlogged <= 3, outcome
    # The faults really cost work: some leases expired and some tasks ran again.
    assert outcome.expired > 0, outcome
    assert outcome.executions > SMALL.tasks, outcome
