"""Which policies apply to a viewer, in the order the engine tries them.

A viewer's own policies come first (a User subject naming them, or a ServiceAccount
subject matching `system:serviceaccount:<ns>:<name>`), then policies for any of their
groups, then the cluster default. Within a layer, higher `spec.priority` first, then
name, so the order never depends on list order. Subject-less policies are the cluster
default. The built-in default comes last, for the kinds no subject-less policy has
rules for: a cluster default replaces the built-in rules of the kinds it names, and
adding a policy for one more kind never loses the others.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from taskmill.api.statuspolicy import Subject, SubjectKind
from taskmill.status.policy import CompiledPolicy

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the user name and groups a SelfSubjectReview returns."""

    user: str = ""
    groups: tuple[str, ...] = ()


def layers_for(
    viewer: Viewer, policies: Iterable[CompiledPolicy], builtin: CompiledPolicy
) -> list[CompiledPolicy]:
    """The viewer's layers: own, then groups', then the default, then the built-in."""
    own: list[CompiledPolicy] = []
    grouped: list[CompiledPolicy] = []
    default: list[CompiledPolicy] = []
    for policy in policies:
        if not policy.subjects:
            default.append(policy)
        elif any(_names_user(s, viewer.user) for s in policy.subjects):
            own.append(policy)
        elif any(s.kind == SubjectKind.GROUP and s.name in viewer.groups for s in policy.subjects):
            grouped.append(policy)
    covered = {key for policy in default for key in policy.rules}
    rest = replace(builtin, rules={k: v for k, v in builtin.rules.items() if k not in covered})
    return [*_ordered(own), *_ordered(grouped), *_ordered(default), rest]


def _names_user(subject: Subject, user: str) -> bool:
    if subject.kind == SubjectKind.USER:
        return subject.name == user
    if subject.kind == SubjectKind.SERVICE_ACCOUNT:
        return user == f"{SERVICE_ACCOUNT_PREFIX}{subject.namespace}:{subject.name}"
    return False


def _ordered(policies: list[CompiledPolicy]) -> list[CompiledPolicy]:
    return sorted(policies, key=lambda p: (-p.priority, p.name))
