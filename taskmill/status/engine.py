"""Normalization: the first true rule of the first layer that has one, with provenance.

Layers are tried in order (a viewer's own policy, their groups' policies, the cluster
default); within a layer, the object's kind's rules in order. A rule that errors on
this object is skipped and recorded, so a bad rule degrades to the next candidate
instead of failing the object. When nothing matches the value is Unknown.

Each kind's rules are also compiled into one chained program; the engine tries that
first (one evaluation per layer) and falls back to rule by rule only when some rule
failed on this object, which then shows in the verdict's errors.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskmill.api.common import NormalizedStatus
from taskmill.status.cel import CelError, activation, first_true, holds
from taskmill.status.policy import CompiledPolicy, kind_key

NO_RULE = "no rule matched"


@dataclass(frozen=True)
class Verdict:
    value: NormalizedStatus
    policy: str = ""  # the policy whose rule matched; empty when none did
    rule: str = ""
    reason: str = NO_RULE
    errors: tuple[str, ...] = ()  # rules that failed on this object, skipped


def normalize(
    obj: Mapping[str, Any],
    layers: Sequence[CompiledPolicy],
    now: datetime,
    facts: Mapping[str, Any] | None = None,
) -> Verdict:
    """The normalized status of `obj` under `layers`, highest layer first."""
    key = kind_key(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    variables = None
    errors: list[str] = []
    for policy in layers:
        rules = policy.rules.get(key, ())
        if not rules:
            continue
        if variables is None:  # converted only for kinds some layer has rules for
            variables = activation(obj, facts or {}, now)
        chain = policy.chains.get(key)
        index = None if chain is None else first_true(chain, variables)
        if index is not None:
            if index >= 0:
                rule = rules[index]
                return Verdict(rule.value, policy.name, rule.name, rule.reason, tuple(errors))
            continue
        for rule in rules:
            try:
                matched = holds(rule.program, variables)
            except CelError as e:
                errors.append(f"{policy.name}/{rule.name}: {e}")
                continue
            if matched:
                return Verdict(rule.value, policy.name, rule.name, rule.reason, tuple(errors))
    return Verdict(NormalizedStatus.UNKNOWN, errors=tuple(errors))
