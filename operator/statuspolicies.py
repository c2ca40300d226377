"""StatusPolicy review: compile each new generation and say in its status whether it works.

Viewers evaluate policies; the operator only reviews them, so a rule that does not
compile or a kind the cluster does not serve is visible on the object
(`kubectl get statuspolicies` shows ACCEPTED) instead of only in some viewer's output.
A policy is reviewed once per generation: its status records the generation it saw.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from taskmill.operator.conditions import find_condition, set_condition

from taskmill.api.common import ConditionStatus
from taskmill.api.statuspolicy import StatusPolicy, StatusPolicyStatus
from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.discovery import served_kinds
from taskmill.kube.paths import STATUSPOLICIES
from taskmill.status import compile_policy

log = logging.getLogger(__name__)

ACCEPTED = "Accepted"
KINDS_SERVED = "KindsServed"
RETRY_SECONDS = 10.0


def review_status(
    policy: StatusPolicy,
    problems: Iterable[str],
    unserved: Iterable[str],
    now: datetime,
) -> StatusPolicyStatus:
    """The status for one review: Accepted (every rule compiled), KindsServed."""
    problems, unserved = list(problems), list(unserved)
    generation = policy.metadata.generation
    conditions = set_condition(
        policy.status.conditions,
        ACCEPTED,
        ConditionStatus.FALSE if problems else ConditionStatus.TRUE,
        "RulesDoNotCompile" if problems else "Compiled",
        "; ".join(problems) + ("; these rules are skipped" if problems else ""),
        generation,
        now,
    )
    conditions = set_condition(
        conditions,
        KINDS_SERVED,
        ConditionStatus.FALSE if unserved else ConditionStatus.TRUE,
        "UnknownKind" if unserved else "Served",
        f"not served by this cluster: {', '.join(unserved)}; their rules never apply"
        if unserved
        else "",
        generation,
        now,
    )
    return StatusPolicyStatus(observed_generation=generation, conditions=conditions)


def needs_review(policy: StatusPolicy) -> bool:
    status = policy.status
    return (
        status.observed_generation != policy.metadata.generation
        or find_condition(status.conditions, ACCEPTED) is None
    )


class PolicyReview:
    """Reviews the StatusPolicies a reflector feeds it, one at a time."""

    def __init__(self, kube: KubeApi, clock: Callable[[], datetime]) -> None:
        self._kube = kube
        self._clock = clock
        self._due: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()

    def put(self, body: dict[str, Any]) -> None:
        if needs_review(StatusPolicy.model_validate(body)):
            self._due[body["metadata"]["name"]] = body
            self._wake.set()

    def delete(self, body: dict[str, Any]) -> None:
        self._due.pop(body.get("metadata", {}).get("name", ""), None)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._due:
                name, body = self._due.popitem()
                try:
                    await self._review(StatusPolicy.model_validate(body))
                except ApiError as e:
                    if e.conflict:  # a newer version is on its way through the watch
                        continue
                    log.warning("reviewing StatusPolicy %s: %s; retrying", name, e)
                    self._due.setdefault(name, body)
                    await asyncio.sleep(RETRY_SECONDS)

    async def _review(self, policy: StatusPolicy) -> None:
        compiled = compile_policy(policy)
        unserved = []
        served: dict[str, set[str]] = {}
        for rules in policy.spec.rules:
            group = rules.api_group
            if group not in served:
                served[group] = set(await served_kinds(self._kube, group))
            if rules.kind not in served[group]:
                unserved.append(f"{rules.kind}.{group}" if group else rules.kind)
        status = review_status(policy, compiled.problems, unserved, self._clock())
        await self._kube.merge_patch(
            STATUSPOLICIES.path(name=policy.metadata.name, sub="status"),
            {
                "metadata": {"resourceVersion": policy.metadata.resource_version},
                "status": status.wire(),
            },
        )
        log.info(
            "StatusPolicy %s generation %d: %d rule problem(s), %d unserved kind(s)",
            policy.metadata.name,
            policy.metadata.generation,
            len(compiled.problems),
            len(unserved),
        )
