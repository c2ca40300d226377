"""The built-in default policy (default-policy.yaml), and the BatchJob status it gives.

The operator writes `status.normalizedStatus` with these same rules, so the value
`kubectl get` shows and the value a viewer computes under the default policy cannot
drift apart.
"""

from datetime import datetime
from functools import cache
from importlib.resources import files

import yaml

from taskmill.api.common import NormalizedStatus
from taskmill.api.statuspolicy import StatusPolicy
from taskmill.status.adapters.batchjob import BATCHJOB_HEAD, BatchJobFacts
from taskmill.status.engine import normalize
from taskmill.status.policy import CompiledPolicy, compile_policy

DEFAULT_POLICY_FILE = "default-policy.yaml"


def default_policy_text() -> str:
    return files("taskmill.status").joinpath(DEFAULT_POLICY_FILE).read_text()


BUILTIN_NAME = "builtin"  # its provenance; the object the chart installs is named default


@cache
def builtin_policy() -> CompiledPolicy:
    manifest = yaml.safe_load(default_policy_text())
    manifest["metadata"]["name"] = BUILTIN_NAME
    policy = compile_policy(StatusPolicy.model_validate(manifest))
    if policy.problems:  # a broken built-in is a bug, never a degraded mode
        raise ValueError(f"the built-in status policy does not compile: {policy.problems}")
    return policy


def batchjob_status(facts: BatchJobFacts, now: datetime) -> NormalizedStatus:
    """The normalized status the default policy gives a BatchJob with these facts."""
    verdict = normalize(BATCHJOB_HEAD, [builtin_policy()], now, facts.as_cel())
    if verdict.errors:  # the built-in rules read only these facts: an error is a bug
        raise ValueError(f"the built-in BatchJob rules failed: {verdict.errors}")
    return verdict.value
