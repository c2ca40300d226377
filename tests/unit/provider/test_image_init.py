"""The image runs an init as PID 1, so orphans of task commands are reaped (no Docker
engine here: the Dockerfile and the chart are read, as tests/unit/chart does)."""

import json

from tests.unit.chart.helm import one, render
from tests.unit.chart.test_image import final


def test_the_final_stage_installs_only_tini_from_the_archive() -> None:
    installs = [run for run in final("RUN") if "apt-get install" in run]
    assert installs == [
        "apt-get update && apt-get install -y --no-install-recommends tini"
        " && rm -rf /var/lib/apt/lists/*"
    ]


def test_tini_is_the_entrypoint() -> None:
    (entrypoint,) = final("ENTRYPOINT")
    assert json.loads(entrypoint) == ["tini", "--", "python", "-m"]


def test_the_chart_starts_providers_under_tini() -> None:
    pools = [{"name": "p", "capabilities": ["c"], "command": ["true"]}]
    objects = render({"providers": {"pools": pools}})
    (container,) = one(objects, "Deployment", "-p")["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["tini", "--"]
