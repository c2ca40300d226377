"""The examples work as a kustomize base: an overlay can rename and place them."""

import os
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.harness.cluster import Cluster

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_overlay_prefix_rewrites_depends_on_and_applies(
    cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        textwrap.dedent(f"""\
            resources: [{os.path.relpath(EXAMPLES, tmp_path)}]
            namespace: {namespace}
            namePrefix: team-a-
            """)
    )
    rendered = cluster.kubectl("kustomize", str(tmp_path))
    jobs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(rendered.stdout) if d}

    assert all(name.startswith("team-a-") for name in jobs)
    assert {d["metadata"]["namespace"] for d in jobs.values()} == {namespace}
    assert jobs["team-a-report"]["spec"]["dependsOn"] == ["team-a-extract"]

    applied = cluster.kubectl("apply", "-f", "-", input=rendered.stdout)
    assert applied.stdout.count("created") == len(jobs)
