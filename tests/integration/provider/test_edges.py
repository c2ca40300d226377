"""Edges of the command contract on a real API server: big params, big results,
identities, what the command is told about its lease."""

import sys

import pytest

from taskmill.api.common import TaskPhase
from tests.harness.cluster import Cluster
from tests.integration.provider.kit import Providers, create, task_manifest, wait_task

pytestmark = pytest.mark.integration

FINISHED = (TaskPhase.SUCCEEDED, TaskPhase.FAILED)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_params_of_200_kb_reach_the_command(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    # Over Linux's 128 KiB limit for one environment string, well inside admission's.
    blob = "x" * 200_000
    providers.start(
        "big-1",
        "big",
        python(
            "import json, os, sys; p = json.load(sys.stdin);"
            "f = json.load(open(os.environ['TASKMILL_PARAMS_FILE']));"
            "print(len(p['item']), f == p)"
        ),
    )
    create(cluster, namespace, task_manifest("big-0", "big", params={"item": blob}, maxAttempts=1))
    done = wait_task(
        cluster,
        namespace,
        "big-0",
        "finished",
        lambda t: t.status.phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED),
    )
    assert done.status.result is not None
    assert (done.status.phase, done.status.result.output) == (TaskPhase.SUCCEEDED, "200000 True\n")


def test_a_result_over_the_inline_limit_fails_the_attempt(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start(
        "large-1",
        "large",
        python(
            "import json, os; rows = [{'row': i, 'pad': 'p' * 40} for i in range(100)];"
            "json.dump({'output': rows}, open(os.environ['TASKMILL_RESULT'], 'w'))"
        ),
    )
    create(cluster, namespace, task_manifest("large-0", "large", maxAttempts=1))
    done = wait_task(
        cluster, namespace, "large-0", "finished", lambda t: t.status.phase in FINISHED
    )
    assert done.status.result is not None
    assert (done.status.phase, done.status.result.reason) == (TaskPhase.FAILED, "ResultTooLarge")
    assert "inline limit" in done.status.result.message
