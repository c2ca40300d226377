"""A control-plane outage burns no attempts: the kube-apiserver stopped (SIGSTOP) for
longer than a task's lease, then resumed (SIGCONT), while a provider keeps renewing.

Before, the operator judged the lease on its own clock right through the outage: it
expired it as soon as the API server answered again (its expiry write racing the
holder's queued renewal), counting an attempt of healthy work; with maxAttempts 1 the
job failed. Now expiry pauses while the operator cannot see, and every lease gets a
fresh observation window once it can.
"""

import contextlib
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ControlPlane, wait_for
from tests.harness.ports import free_ports
from tests.integration.leasing import Held, LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60
LEASE = 5
OUTAGE = 3 * LEASE  # well past duration + grace
INTERVAL = LEASE / 3  # a provider renews every third of the duration


class Renewer:
    """Renews a lease every third of its duration from a thread, as a provider does.

    `outage()` models the provider's side of an outage: its renewals cannot get through
    while the API server is stopped, and the next one goes out a renewal interval after
    the API server is back (not queued up at the very moment it resumes).
    """

    def __init__(self, driver: LeaseDriver, held: Held) -> None:
        self.lost = False
        self._driver = driver
        self._held = held
        self._resume_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            if time.monotonic() < self._resume_at:
                continue
            if not self._driver.renew(self._held):
                self.lost = True

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self._resume_at = math.inf
        try:
            yield
        finally:
            self._resume_at = time.monotonic() + INTERVAL

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)


def ready(port: int) -> int:
    """The status of the operator's /readyz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:  # not serving yet
        return 0


@pytest.mark.parametrize(
    "leader_lease",
    [
        pytest.param(60, id="the-leader-rides-out-the-outage"),
        pytest.param(LEASE, id="the-leader-steps-down-and-leads-again"),
    ],
)
def test_an_api_server_outage_longer_than_a_lease_burns_no_attempt(
    driver: LeaseDriver,
    start_operator: OperatorFactory,
    control_plane: ControlPlane,
    tmp_path: Path,
    leader_lease: int,
) -> None:
    (port,) = free_ports(1)
    operator = start_operator(
        "--leader-lease-seconds", str(leader_lease), "--liveness-port", str(port)
    )
    driver.create_job(
        "outage",
        {
            "capability": "echo",
            "items": ["x"],
            "lease": {"durationSeconds": LEASE},
            "retry": {"maxAttempts": 1},
        },
    )
    held = wait_for(lambda: driver.claim_pending("outage"), timeout=TIMEOUT, what="claim")[0]
    renewer = Renewer(driver, held)
    try:
        wait_for(lambda: ready(port) == 200, timeout=TIMEOUT, what="the leader ready")
        time.sleep(LEASE)  # the operator has seen the lease renewed for a while
        with renewer.outage(), control_plane.paused("kube-apiserver"):
            paused = time.monotonic()
            if leader_lease > OUTAGE:  # (one that stepped down is a ready standby)
                # A leader that cannot reach the API server is not ready.
                wait_for(lambda: ready(port) == 503, timeout=OUTAGE, what="the leader unready")
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - paused)))  # the outage itself
        wait_for(lambda: ready(port) == 200, timeout=TIMEOUT, what="ready again")
        # Past two observation windows after the outage, the lease must still be ours.
        time.sleep(2 * (LEASE + 1))
        task = driver.task(held.name)
        assert not renewer.lost, task.status
    finally:
        renewer.stop()
    assert (task.status.lease.holder, task.status.attempts, task.status.history) == (
        driver.identity,
        0,
        [],
    )
    assert driver.complete(held)

    def succeeded() -> bool:
        job = driver.job("outage")
        return job is not None and job.status.phase == "Succeeded"

    wait_for(succeeded, timeout=TIMEOUT, what="the job to succeed")
    assert operator.poll() is None  # the operator carries on
    log = (tmp_path / "operator-0.log").read_text()
    if leader_lease == LEASE:
        assert "no longer leading; standing by" in log
