"""Normalization: the first true rule of the first layer that has one, with provenance.

Layers are tried in order (a viewer's own policy, their groups' policies, the cluster
default); within a layer, the object's kind's rules in order. A rule that errors on
this object is skipped and recorded, so a bad rule degrades to the next candidate
instead of failing the object. When nothing matches the value is Unknown.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskmill.api.common import NormalizedStatus
from taskmill.status.cel import CelError, activation, holds
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
        for rule in policy.rules.get(key, ()):
            if variables is None:  # converted only for kinds some layer has rules for
                variables = activation(obj, facts or {}, now)
            try:
                matched = holds(rule.program, variables)
            except CelError as e:
                errors.append(f"{policy.name}/{rule.name}: {e}")
                continue
            if matched:
                return Verdict(rule.value, policy.name, rule.name, rule.reason, tuple(errors))
    return Verdict(NormalizedStatus.UNKNOWN, errors=tuple(errors))
