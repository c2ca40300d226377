"""Per-user and per-group policies through the API server: two users, one Job, two values.

Each user is impersonated (as `kubectl --as --as-group` does); the survey learns who it
is from a SelfSubjectReview and picks that user's layers. The policies name users
unique to this test, so tests running beside it never see them.
"""

import json
from collections.abc import Iterator

import pytest

from tests.builders import make_statuspolicy
from tests.harness import Cluster
from tests.harness.polling import wait_for
from tests.integration.status.kit import job_manifest, survey_as, values

pytestmark = pytest.mark.integration

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def people(cluster: Cluster, namespace: str) -> Iterator[tuple[str, str, str]]:
    """Three users who may read Jobs and policies, and the policies of two of them."""
    alice, bob, carol = (f"{who}-{namespace}" for who in ("alice", "bob", "carol"))
    team = f"team-{namespace}"
    role = f"status-reader-{namespace}"
    policies = [
        make_statuspolicy(f"{alice}-own")
        .subject("User", alice)
        .rule("batch", "Job", "RunningLate", "object.status.?active.orValue(0) > 0", name="slow")
        .obj(),
        make_statuspolicy(f"{team}-low")
        .subject("Group", team)
        .priority(1)
        .rule("batch", "Job", "Waiting", "true", name="low")
        .obj(),
        make_statuspolicy(f"{team}-high")
        .subject("Group", team)
        .priority(5)
        .rule("batch", "Job", "Restart", "object.status.?active.orValue(0) > 0", name="high")
        .obj(),
    ]
    rbac = [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["list"]},
                {"apiGroups": ["taskmill.io"], "resources": ["statuspolicies"], "verbs": ["list"]},
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [
                {"apiGroup": RBAC, "kind": "User", "name": who} for who in (alice, bob, carol)
            ],
        },
    ]
    objects = json.dumps({"apiVersion": "v1", "kind": "List", "items": [*policies, *rbac]})
    cluster.kubectl("create", "-f", "-", input=objects)
    try:
        yield alice, bob, carol
    finally:
        cluster.kubectl("delete", "-f", "-", "--wait=false", input=objects, check=False)


def test_each_viewer_sees_their_own_layers(
    cluster: Cluster, crds: list[str], namespace: str, people: tuple[str, str, str]
) -> None:
    alice, bob, carol = people
    team = f"team-{namespace}"
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=job_manifest("train"))

    def job_as(user: str, *groups: str) -> tuple[str, str, str]:
        (row,) = [r for r in survey_as(cluster, namespace, user, groups).rows if r.kind == "Job"]
        return str(row.verdict.value), row.verdict.policy, row.verdict.rule

    wait_for(
        lambda: values(survey_as(cluster, namespace), "Job") == {"train": "Running"},
        timeout=60,
        what="the Job's pod to be active",
    )
    # Alice's own policy wins over her team's; Bob gets the team's higher priority;
    # Carol has neither and sees the cluster default.
    assert job_as(alice, team) == ("RunningLate", f"{alice}-own", "slow")
    assert job_as(bob, team) == ("Restart", f"{team}-high", "high")
    value, _policy, rule = job_as(carol)
    assert (value, rule) == ("Running", "active")

    seen = survey_as(cluster, namespace, alice, (team,))
    assert seen.viewer.user == alice
    assert seen.layers[:3] == (f"{alice}-own", f"{team}-high", f"{team}-low")


def test_a_viewer_who_may_not_list_a_kind_is_told_so(
    cluster: Cluster, crds: list[str], namespace: str
) -> None:
    seen = survey_as(cluster, namespace, f"nobody-{namespace}")
    assert "Job.batch" in seen.denied
    assert "CronJob.batch" in seen.denied
    assert seen.notes == ["may not list statuspolicies: the built-in default applies"]
    assert seen.rows == []
