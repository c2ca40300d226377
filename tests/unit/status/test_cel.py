"""The CEL environment: what compiles, what a rule may use, and how failures read."""

from datetime import UTC, datetime

import pytest

from taskmill.status.cel import CelError, activation, compile_rule, holds

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OBJ = {
    "metadata": {"name": "nightly", "creationTimestamp": "2026-12-01T10:00:00Z"},
    "spec": {"suspend": False, "items": [1, 2, 3]},
    "status": {"active": 1, "conditions": [{"type": "Failed", "status": "True"}]},
}


def check(expression: str, facts: dict[str, object] | None = None) -> bool:
    return holds(compile_rule(expression), activation(OBJ, facts or {}, NOW))


# What Kubernetes users write in CRD validation rules, all true for OBJ at NOW.
@pytest.mark.parametrize(
    "expression",
    [
        "has(object.status.active) && !has(object.status.succeeded)",
        "object.status.conditions.exists(c, c.type == 'Failed' && c.status == 'True')",
        "object.status.conditions.all(c, c.status in ['True', 'False'])",
        "object.status.conditions.exists_one(c, c.status == 'True')",
        "object.status.conditions.filter(c, c.status == 'True').map(c, c.type) == ['Failed']",
        "timestamp(object.metadata.creationTimestamp) + duration('1h') < now",
        "now - timestamp(object.metadata.creationTimestamp) == duration('2h')",
        "object.metadata.name.startsWith('night') && object.metadata.name.matches('^n.*y$')",
        "object.metadata.name.upperAscii().lowerAscii() == 'nightly'",
        "'a,b'.split(',') == ['a', 'b'] && ['a', 'b'].join('-') == 'a-b'",
        "object.?status.?ready.orValue(0) == 0",
        "object.status.active < 1.5",
        "size(object.spec.items) == 3",
        "math.greatest(object.spec.items) == 3",
        "facts.missed",
    ],
)
def test_kubernetes_style_rules_compile_and_hold(expression: str) -> None:
    assert check(expression, {"missed": True})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("object.status.active ==", "Syntax error"),
        ("quantity('1Gi') > 0", "undeclared reference to 'quantity'"),
        ("'Running'", "must be a boolean, not STRING"),
        ("1 + 1", "must be a boolean, not INT"),
    ],
)
def test_rules_that_cannot_work_fail_to_compile_with_the_compilers_message(
    expression: str, message: str
) -> None:
    with pytest.raises(CelError, match=message) as error:
        compile_rule(expression)
    assert not str(error.value).startswith("INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("object.status.succeeded > 0", 'Key not found in map : "succeeded"'),
        ("object.metadata.name + 1 == 2", "No matching overloads"),
        ("object.status.active", "gave INT, not a boolean"),
    ],
)
def test_a_rule_that_fails_on_one_object_raises_a_cel_error(expression: str, message: str) -> None:
    with pytest.raises(CelError, match=message):
        check(expression)
