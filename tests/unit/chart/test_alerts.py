"""The chart's alert rules, checked by the pinned promtool: valid, and each alert fires,
stays quiet and clears as tests/unit/chart/alerts_test.yaml says."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.versions import Binaries
from tests.unit.chart.helm import CHART

HERE = Path(__file__).resolve().parent
RULES = CHART / "files" / "alerts.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = Binaries.locate().promtool
    if not os.access(tool, os.X_OK):
        pytest.skip(f"promtool not unpacked at {tool}: run `make binaries`")
    return subprocess.run(
        [str(tool), *args], cwd=HERE, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_and_clears_as_specified() -> None:
    result = promtool("test", "rules", "alerts_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_test_and_a_runbook() -> None:
    rules = RULES.read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line]
    tests = (HERE / "alerts_test.yaml").read_text()
    runbooks = (CHART.parents[1] / "docs" / "operations.md").read_text().lower()
    assert alerts
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
        assert f"#### {alert.lower()}" in runbooks, f"{alert} has no runbook section"
