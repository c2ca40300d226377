"""A StatusPolicy compiled once: rules by kind, and what could not be compiled.

A rule that does not compile is left out and named in `problems`; the rest of the
policy still applies, so one typo never blanks a whole kind for everyone.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from taskmill.api.common import NormalizedStatus
from taskmill.api.statuspolicy import StatusPolicy, Subject
from taskmill.status.cel import CelError, Program, compile_chain, compile_rule

KindKey = tuple[str, str]  # (apiGroup, kind); the core group is ""


@dataclass(frozen=True)
class CompiledRule:
    name: str  # provenance: the rule's name, or its value when unnamed
    value: NormalizedStatus
    reason: str  # one line shown with the status
    program: Program


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    priority: int = 0
    subjects: tuple[Subject, ...] = ()
    rules: Mapping[KindKey, tuple[CompiledRule, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # rules left out, each naming the rule and why
    # Per kind, all its rules as one program (cel.compile_chain): the fast path.
    chains: Mapping[KindKey, Program] = field(default_factory=dict)


def compile_policy(policy: StatusPolicy) -> CompiledPolicy:
    """Every rule compiled; those that fail are reported in `problems` and skipped."""
    rules: dict[KindKey, tuple[CompiledRule, ...]] = {}
    chains: dict[KindKey, Program] = {}
    problems: list[str] = []
    for kind_rules in policy.spec.rules:
        key = (kind_rules.api_group, kind_rules.kind)
        compiled: list[CompiledRule] = []
        texts: list[str] = []  # of the rules that compiled, in order
        for index, rule in enumerate(kind_rules.rules):
            name = rule.name or str(rule.value)
            where = f"{_kind_name(key)} rule {index} ({name})"
            try:
                value = NormalizedStatus(rule.value)
            except ValueError:
                problems.append(f"{where}: {rule.value!r} is not a normalized status")
                continue
            try:
                program = compile_rule(rule.when)
            except CelError as e:
                problems.append(f"{where}: {e}")
                continue
            compiled.append(CompiledRule(name, value, rule.reason or rule.when, program))
            texts.append(rule.when)
        rules[key] = tuple(compiled)
        chain = compile_chain(texts)
        if chain is not None:
            chains[key] = chain
    return CompiledPolicy(
        name=policy.metadata.name,
        priority=policy.spec.priority,
        subjects=tuple(policy.spec.subjects),
        rules=rules,
        problems=tuple(problems),
        chains=chains,
    )


def kind_key(api_version: str, kind: str) -> KindKey:
    """(apiGroup, kind) of an object: `batch/v1` is group batch, `v1` the core group."""
    group, _, _version = api_version.rpartition("/")
    return group, kind


def _kind_name(key: KindKey) -> str:
    group, kind = key
    return f"{kind}.{group}" if group else kind
