"""What a job costs the API server: requests by verb and resource during a whole run.

The happy path of a short task is create (operator), claim and complete (provider);
the operator adds nothing per Task, and the BatchJob status is written about once a second.
"""

import time

from tests.harness import Cluster, wait_for
from tests.harness.metrics import diff, request_counts
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TASKS = 50


def test_requests_per_task(
    cluster: Cluster, driver: LeaseDriver, start_operator: OperatorFactory
) -> None:
    # The default leader Lease (15 s), not the fixture's short one: a request may take
    # a third of the Lease, and a create cut off sooner on a loaded machine is sent
    # again, which is right for the operator and wrong for this count.
    start_operator("--leader-lease-seconds", "15")
    # The operator's startup (lists, watches, leader Lease) happens before the baseline.
    wait_for(driver.leader, timeout=30, what="operator leading")
    before = request_counts(cluster.metrics())
    started = time.monotonic()
    driver.create_job("cost", {"capability": "echo", "range": {"end": TASKS}})
    completed = 0

    def finished() -> bool:
        nonlocal completed
        completed += driver.run_to_completion("cost")
        bj = driver.job("cost")
        return bj is not None and bj.status.phase == "Succeeded"

    wait_for(finished, timeout=120, what="job Succeeded", interval=0.1)
    elapsed = time.monotonic() - started
    calls = diff(before, request_counts(cluster.metrics()))

    print(f"\n{TASKS} tasks in {elapsed:.1f}s; requests per task by verb/resource:")
    for (verb, resource, sub), n in sorted(calls.items()):
        if resource in ("tasks", "batchjobs", "events", "leases"):
            print(f"  {verb:7} {resource}/{sub or '-':8} {n:5}  {n / TASKS:.2f}")

    assert completed == TASKS
    assert calls[("POST", "tasks", "")] == TASKS
    # No writes to Task objects by the operator on the happy path.
    assert calls[("PATCH", "tasks", "")] == 0
    assert calls[("PUT", "tasks", "")] == 0
    assert calls[("PUT", "tasks", "status")] == 0
    # The provider's claim and completion, and nothing else.
    assert calls[("PATCH", "tasks", "status")] == 2 * TASKS
    assert calls[("PATCH", "batchjobs", "")] == 0
    assert calls[("PATCH", "batchjobs", "status")] <= elapsed + 3
    for task in driver.raw_tasks():
        assert not task["metadata"].get("finalizers")
