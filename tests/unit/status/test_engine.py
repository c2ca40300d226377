"""The engine: first true rule of the first layer, provenance, and bad rules skipped."""

from datetime import UTC, datetime
from typing import Any

import pytest

from taskmill.api import NormalizedStatus
from taskmill.api.statuspolicy import StatusPolicy
from taskmill.status import CompiledPolicy, compile_policy, normalize
from tests.builders import make_statuspolicy, make_workload

NOW = datetime(2026, 12, 1, tzinfo=UTC)
JOB = make_workload("batch/v1", "Job", "nightly").status(active=2, failed=1).obj()


def compiled(manifest: dict[str, Any]) -> CompiledPolicy:
    return compile_policy(StatusPolicy.model_validate(manifest))


USER = compiled(
    make_statuspolicy("alice")
    .subject("User", "alice")
    .rule("batch", "Job", "Restart", "object.status.failed > 0", name="any-failure")
    .obj()
)
TEAM = compiled(
    make_statuspolicy("team")
    .subject("Group", "ml")
    .rule("batch", "Job", "Running", "object.status.active > 1", name="busy")
    .obj()
)
DEFAULT = compiled(
    make_statuspolicy("default")
    .rule("batch", "Job", "Failure", "object.status.failed > 5", name="many-failures")
    .rule("batch", "Job", "Running", "object.status.active > 0", reason="pods are active")
    .obj()
)


@pytest.mark.parametrize(
    ("layers", "value", "policy", "rule"),
    [
        ([USER, TEAM, DEFAULT], NormalizedStatus.RESTART, "alice", "any-failure"),
        ([TEAM, DEFAULT], NormalizedStatus.RUNNING, "team", "busy"),
        ([DEFAULT], NormalizedStatus.RUNNING, "default", "Running"),  # unnamed: its value
        ([], NormalizedStatus.UNKNOWN, "", ""),
    ],
)
def test_the_first_true_rule_of_the_first_layer_wins_and_says_which(
    layers: list[CompiledPolicy], value: NormalizedStatus, policy: str, rule: str
) -> None:
    verdict = normalize(JOB, layers, NOW)
    assert (verdict.value, verdict.policy, verdict.rule) == (value, policy, rule)
    assert verdict.errors == ()


def test_the_reason_is_the_rules_reason_or_its_expression() -> None:
    assert normalize(JOB, [DEFAULT], NOW).reason == "pods are active"
    assert normalize(JOB, [TEAM], NOW).reason == "object.status.active > 1"


def test_a_kind_no_layer_knows_is_unknown_and_says_so() -> None:
    cron = make_workload("batch/v1", "CronJob", "c").obj()
    verdict = normalize(cron, [USER, TEAM, DEFAULT], NOW)
    assert (verdict.value, verdict.reason) == (NormalizedStatus.UNKNOWN, "no rule matched")


def test_the_group_is_part_of_the_kind() -> None:
    other = make_workload("example.com/v1", "Job", "x").status(active=2, failed=1).obj()
    assert normalize(other, [USER, TEAM, DEFAULT], NOW).value == NormalizedStatus.UNKNOWN


def test_a_rule_that_errors_on_this_object_is_skipped_and_recorded() -> None:
    policy = compiled(
        make_statuspolicy("p")
        .rule("batch", "Job", "Success", "object.status.succeeded > 0", name="done")
        .rule("batch", "Job", "Running", "true", name="fallback")
        .obj()
    )
    verdict = normalize(JOB, [policy], NOW)
    assert (verdict.value, verdict.rule) == (NormalizedStatus.RUNNING, "fallback")
    assert len(verdict.errors) == 1
    assert verdict.errors[0].startswith("p/done: ")
    assert "succeeded" in verdict.errors[0]


def test_a_rule_that_does_not_compile_is_reported_and_the_rest_still_apply() -> None:
    policy = compiled(
        make_statuspolicy("p")
        .rule("batch", "Job", "Failure", "object.status.failed >", name="broken")
        .rule("batch", "Job", "Restart", "object.status.failed > 0", name="works")
        .obj()
    )
    assert len(policy.problems) == 1
    assert policy.problems[0].startswith("Job.batch rule 0 (broken): ")
    assert normalize(JOB, [policy], NOW).rule == "works"


def test_the_core_group_is_spelled_empty() -> None:
    pod = make_workload("v1", "Pod", "p").status(phase="Running").obj()
    policy = compiled(
        make_statuspolicy("p").rule("", "Pod", "Running", "object.status.phase == 'Running'").obj()
    )
    assert normalize(pod, [policy], NOW).value == NormalizedStatus.RUNNING


def test_facts_are_visible_to_rules() -> None:
    policy = compiled(make_statuspolicy("p").rule("batch", "Job", "LateToStart", "facts.x").obj())
    assert normalize(JOB, [policy], NOW, {"x": True}).value == NormalizedStatus.LATE_TO_START
    assert normalize(JOB, [policy], NOW, {"x": False}).value == NormalizedStatus.UNKNOWN
