"""The operator reviews StatusPolicies: what does not compile, and kinds nobody serves,
show on the policy itself."""

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders import make_statuspolicy
from tests.harness import Cluster
from tests.harness.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def policy_name(cluster: Cluster, namespace: str) -> Iterator[str]:
    name = f"review-{namespace}"
    yield name
    cluster.kubectl("delete", "statuspolicy", name, "--wait=false", check=False)


def conditions(cluster: Cluster, name: str) -> dict[str, dict[str, Any]]:
    got = json.loads(cluster.kubectl("get", "statuspolicy", name, "-o", "json").stdout)
    return {c["type"]: c for c in got.get("status", {}).get("conditions", [])}


def test_a_policy_with_a_broken_rule_and_an_unknown_kind_says_so(
    cluster: Cluster,
    crds: list[str],
    namespace: str,
    operator: subprocess.Popen[bytes],
    policy_name: str,
) -> None:
    policy = (
        make_statuspolicy(policy_name)
        .subject("User", f"nobody-{namespace}")  # never a cluster default for other tests
        .rule("batch", "Job", "Failure", "object.status.failed >", name="broken")
        .rule("batch", "Job", "Running", "object.status.?active.orValue(0) > 0", name="works")
        .rule("argoproj.io", "Workflow", "Running", "true")
        .obj()
    )
    cluster.kubectl("create", "-f", "-", input=json.dumps(policy))

    found = wait_for(
        lambda: conditions(cluster, policy_name) or None,
        timeout=30,
        what="the operator to review the policy",
    )
    accepted, served = found["Accepted"], found["KindsServed"]
    assert (accepted["status"], accepted["reason"]) == ("False", "RulesDoNotCompile")
    assert accepted["message"].startswith("Job.batch rule 0 (broken): ")
    assert "Syntax error" in accepted["message"]
    assert (served["status"], served["reason"]) == ("False", "UnknownKind")
    assert "Workflow.argoproj.io" in served["message"]

    # Fixed: the next generation is reviewed again.
    fixed = [
        {"op": "remove", "path": "/spec/rules/0/rules/0"},
        {"op": "remove", "path": "/spec/rules/1"},
    ]
    cluster.kubectl("patch", "statuspolicy", policy_name, "--type=json", "-p", json.dumps(fixed))
    wait_for(
        lambda: (
            conditions(cluster, policy_name)["Accepted"]["status"] == "True"
            and conditions(cluster, policy_name)["KindsServed"]["status"] == "True"
        ),
        timeout=30,
        what="the fixed policy to be accepted",
    )
    printed = cluster.kubectl("get", "statuspolicy", policy_name).stdout
    assert "True" in printed.splitlines()[1]  # the ACCEPTED column
