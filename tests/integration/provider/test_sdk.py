"""A Python SDK provider: progress through renewals, return values, handler errors,
typed params, errors that decide retries, a handler woken by the operator's cancel."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.builders import make_batchjob
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.integration.provider.kit import Providers, create, get_task, task_manifest, wait_task
from tests.integration.provider.test_with_operator import apply, job_phase

APP = "tests.integration.provider.sdk_app"
EXAMPLE = Path(__file__).parents[3] / "examples" / "providers" / "scoring"

pytestmark = pytest.mark.integration


def test_sdk_handlers(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    seen = tmp_path / "workdir"
    sdk = providers.start("sdk-1", "", [], module=APP)
    create(
        cluster,
        namespace,
        task_manifest("sum", "sdk.sum", params={"numbers": [1, 2, 3], "go": str(go)}),
        task_manifest("fail", "sdk.fail", index=1, params={"why": "nope"}, maxAttempts=1),
        task_manifest(
            "exit", "sdk.exit", index=2, params={"code": 3, "seen": str(seen)}, maxAttempts=1
        ),
    )
    running = wait_task(
        cluster,
        namespace,
        "sum",
        "progress reported",
        lambda t: t.status.progress is not None and t.status.progress.percent == 50,
    )
    assert running.status.progress is not None
    assert running.status.progress.message == "halfway"
    go.touch()
    done = wait_task(
        cluster, namespace, "sum", "succeeded", lambda t: t.status.phase == "Succeeded"
    )
    assert done.status.result is not None
    assert json.loads(done.status.result.output) == {"sum": 6}

    failed = wait_task(cluster, namespace, "fail", "failed", lambda t: t.status.phase == "Failed")
    assert failed.status.result is not None
    assert failed.status.result.reason == "HandlerError"
    assert failed.status.result.message == "ValueError: nope"
    assert "Traceback" in failed.status.result.output

    exited = wait_task(cluster, namespace, "exit", "failed", lambda t: t.status.phase == "Failed")
    assert exited.status.result is not None
    assert (exited.status.result.reason, exited.status.result.message) == (
        "HandlerError",
        "SystemExit: 3",
    )
    assert not Path(seen.read_text()).exists()  # its working directory is gone
    assert sdk.proc.poll() is None  # the provider serves on

    assert sdk.terminate() == 0
    log = sdk.log_text()
    assert "task sum: summing 3 numbers" in log  # ctx.log names the task
    # setup before serving, teardown after the shutdown
    assert log.index("setup: model loaded") < log.index("serving")
    assert log.index("shutting down") < log.index("teardown: model unloaded")


def test_sdk_typed_params_and_errors_decide_the_retry(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start("sdk-2", "", [], module=APP)
    create(
        cluster,
        namespace,
        task_manifest("typed", "sdk.typed", params={"numbers": [4, 5]}, timeoutSeconds=300),
        task_manifest("invalid", "sdk.typed", index=1, params={"numbers": "many"}),
        task_manifest("final", "sdk.final", index=2, params={"key": "x"}),
        task_manifest("later", "sdk.later", index=3, params={"delay": 120}, backoffSeconds=1),
    )  # maxAttempts 3 each: only the handler's answers end them early

    typed = wait_task(cluster, namespace, "typed", "done", lambda t: t.status.phase == "Succeeded")
    assert typed.status.result is not None
    info = json.loads(typed.status.result.output)
    assert typed.status.start_time is not None
    deadline = typed.status.start_time + timedelta(seconds=300)
    assert datetime.fromisoformat(info.pop("deadline")) == deadline
    assert info == {"total": 9, "attempt": 1, "epoch": 1}

    for name, reason, message in [
        ("invalid", "InvalidParams", "invalid params: 1 validation error for Numbers"),
        ("final", "NoSuchItem", "item x does not exist"),
    ]:
        failed = wait_task(cluster, namespace, name, "failed", lambda t: t.status.phase == "Failed")
        assert failed.status.result is not None
        assert (failed.status.attempts, failed.status.reason) == (1, reason)
        assert failed.status.result.message.startswith(message)

    later = wait_task(cluster, namespace, "later", "backing off", lambda t: t.status.attempts == 1)
    assert (later.status.phase, later.status.reason) == ("Held", "Backoff")
    assert later.status.retry_after is not None
    ended = later.status.history[-1].time
    assert later.status.retry_after - ended == timedelta(seconds=120)  # not the task's 1 s


def test_with_the_operator_cancel_wakes_a_sleeping_handler_and_no_retry_fails_the_job(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start_operator()
    sdk = providers.start("sdk-3", "", [], module=APP)
    nap = make_batchjob("nap", "sdk.nap").spec(
        tasks=[{"name": "a", "params": {}}], timeoutSeconds=1, retry={"maxAttempts": 1}
    )
    final = make_batchjob("final", "sdk.final").spec(
        tasks=[{"name": "a", "params": {"key": "y"}}], retry={"maxAttempts": 3}
    )
    apply(cluster, namespace, nap.obj(), final.obj())
    # The operator creates the Tasks: wait on the job, which fails with its one task.
    wait_for(lambda: job_phase(cluster, namespace, "nap") == "Failed", timeout=60, what="nap")
    task = get_task(cluster, namespace, "nap-0")
    assert [(h.outcome, h.reason) for h in task.status.history] == [("Cancelled", "Timeout")]
    log = sdk.log_text()
    assert "task nap-0: napping" in log
    # ctx.sleep woke at the cancel: the handler ended on its own, within the kill grace
    assert "abandoned" not in log
    wait_for(lambda: "nap-0: reported" in sdk.log_text(), timeout=10, what="the cancel ack")

    # One attempt of three, and the job ends Failed: nothing is left to run.
    wait_for(
        lambda: job_phase(cluster, namespace, "final") == "Failed", timeout=30, what="job Failed"
    )
    task = get_task(cluster, namespace, "final-0")
    assert (task.status.phase, task.status.attempts, task.status.reason) == (
        "Failed",
        1,
        "NoSuchItem",
    )


def test_the_scoring_example_scores_its_batchjob(
    cluster: Cluster, namespace: str, providers: Providers
) -> None:
    providers.start_operator()
    providers.start("scorer-1", "", [], module="examples.providers.scoring.scoring")
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE / "batchjob.yaml"))
    wait_for(
        lambda: job_phase(cluster, namespace, "score-reviews") == "Succeeded",
        timeout=60,
        what="the example job to succeed",
    )
    labels: dict[str, str] = {}
    for index in (0, 1):
        task = get_task(cluster, namespace, f"score-reviews-{index}")
        assert task.status.result is not None
        result = task.status.result
        assert (result.reason, result.message) == (
            "Scored",
            f"3 items scored, {2 - index} positive",
        )
        labels |= {s["id"]: s["label"] for s in json.loads(result.output)["scores"]}
    assert labels == {
        "r1": "positive",
        "r2": "negative",
        "r3": "positive",
        "r4": "negative",
        "r5": "positive",
        "r6": "negative",
    }
