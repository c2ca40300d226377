"""Metrics and alerts end to end: the operator and a provider on the local control plane,
a real Prometheus scraping both and evaluating the chart's rules. A failing job's alert
goes pending, then firing, then clears once the job is gone."""

import json
from pathlib import Path

import pytest

from tests.builders import make_batchjob
from tests.harness import Cluster, wait_for
from tests.harness.metrics import scrape
from tests.harness.ports import free_ports
from tests.harness.prometheus import Prometheus, rules_with_short_for
from tests.harness.versions import Binaries
from tests.integration.provider.kit import Providers
from tests.unit.chart.helm import CHART

pytestmark = pytest.mark.integration
ALERT = "TaskmillJobFailing"


def test_a_failing_job_alerts_then_clears(
    cluster: Cluster, namespace: str, providers: Providers, tmp_path: Path
) -> None:
    if not Binaries.locate().prometheus.exists():
        pytest.skip("Prometheus not unpacked: run `make binaries`")
    operator_port, provider_port = free_ports(2)
    providers.start_operator(metrics_port=operator_port)
    providers.start(
        "failer",
        "metrics.fail",
        ["sh", "-c", "echo broken >&2; exit 3"],
        extra=["--metrics-bind-address", f"127.0.0.1:{provider_port}"],
    )
    rules = rules_with_short_for(CHART / "files" / "alerts.yaml", tmp_path / "rules.yaml", 2)
    targets = [f"127.0.0.1:{operator_port}", f"127.0.0.1:{provider_port}"]
    with Prometheus(tmp_path / "prometheus", targets, [rules]) as prom:
        wait_for(prom.targets_up, timeout=30, what="both targets scraped")
        job = make_batchjob("broken", "metrics.fail").range(end=1).spec(retry={"maxAttempts": 1})
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job.obj()))

        states: list[str] = []

        def alert_state(wanted: str) -> bool:
            active = [a for a in prom.alerts(ALERT) if a["labels"]["batchjob"] == "broken"]
            states.extend(a["state"] for a in active)
            return any(a["state"] == wanted for a in active)

        wait_for(lambda: alert_state("firing"), timeout=60, what=f"{ALERT} firing")
        assert "pending" in states, f"{ALERT} fired without going pending first: {states}"
        assert prom.alerts(ALERT)[0]["labels"]["namespace"] == namespace

        # What led there is visible too, from both sides.
        failed = prom.query('sum(taskmill_task_attempts_total{outcome="failed"})')
        assert float(failed[0]["value"][1]) >= 1
        won = prom.query('sum(taskmill_provider_claims_total{result="won"})')
        assert float(won[0]["value"][1]) >= 1
        assert prom.query("taskmill_leader == 1"), "the operator does not report leading"

        cluster.kubectl("delete", "batchjob", "broken", "-n", namespace)
        wait_for(lambda: not prom.alerts(ALERT), timeout=60, what=f"{ALERT} cleared")
    assert 'batchjob="broken"' not in scrape(operator_port), "a deleted job keeps its series"
