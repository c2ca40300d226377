"""Two replicas: one leads, the other stays passive and takes over when the leader dies."""

import signal
import time
import urllib.request
from pathlib import Path

from tests.harness import wait_for
from tests.harness.ports import free_ports
from tests.integration.leasing import LeaseDriver
from tests.integration.operator.conftest import OperatorFactory

TIMEOUT = 60


def test_standby_stays_passive_then_takes_over_and_finishes_the_job(
    driver: LeaseDriver, start_operator: OperatorFactory, tmp_path: Path
) -> None:
    leader = start_operator(identity="operator-a")
    wait_for(lambda: driver.leader() == "operator-a", timeout=TIMEOUT, what="operator-a leads")
    (port,) = free_ports(1)
    standby = start_operator("--liveness-port", str(port), identity="operator-b")
    standby_log = tmp_path / "operator-b.log"
    wait_for(
        lambda: "waiting for leadership" in standby_log.read_text(),
        timeout=TIMEOUT,
        what="operator-b up",
    )
    # The standby is alive (liveness answers) although it does not lead.
    wait_for(lambda: _healthy(port), timeout=TIMEOUT, what="standby /healthz")
    driver.create_job("relay", {"capability": "echo", "items": list(range(4))})
    wait_for(lambda: driver.run_to_completion("relay", limit=2) > 0, timeout=TIMEOUT, what="work")
    assert driver.leader() == "operator-a"
    assert "became leader" not in standby_log.read_text()
    assert "loaded state" not in standby_log.read_text()  # never listed, watched or wrote

    leader.send_signal(signal.SIGKILL)
    leader.wait()
    wait_for(lambda: driver.leader() == "operator-b", timeout=TIMEOUT, what="operator-b takes over")

    def done() -> bool:
        driver.run_to_completion("relay")
        job = driver.job("relay")
        return job is not None and job.status.phase == "Succeeded"

    wait_for(done, timeout=TIMEOUT, what="job finished under operator-b")
    assert standby.poll() is None


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_sigterm_releases_leadership_for_an_immediate_handover(
    driver: LeaseDriver, start_operator: OperatorFactory, tmp_path: Path
) -> None:
    leader = start_operator(identity="operator-a")
    wait_for(lambda: driver.leader() == "operator-a", timeout=TIMEOUT, what="operator-a leads")
    start_operator(identity="operator-b")
    leader.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert leader.wait(timeout=30) == 0
    # A requested stop, not a failure; and prompt (kopf alone waits 5 s for foreign tasks).
    assert time.monotonic() - sent < 4
    log = (tmp_path / "operator-a.log").read_text().splitlines()
    assert not [line for line in log if "ERROR" in line and "taskmill.operator" in line]
    # Well inside the 5 s Lease duration a silent leader would keep it for.
    wait_for(lambda: driver.leader() == "operator-b", timeout=4, what="operator-b takes over")
