"""Status normalization: any workload kind to one vocabulary, under layered CEL policies.

layers = layers_for(viewer, [compile_policy(p) for p in policies], builtin_policy())
gathered = gather(obj, inventory, now)
verdict = normalize(obj, layers, now, gathered.facts)
verdict.value, verdict.policy, verdict.rule, verdict.reason
"""

from taskmill.status.adapters import Gathered, gather
from taskmill.status.builtin import batchjob_status, builtin_policy, default_policy_text
from taskmill.status.cel import CelError
from taskmill.status.engine import Verdict, normalize
from taskmill.status.inventory import Inventory
from taskmill.status.layers import Viewer, layers_for
from taskmill.status.policy import CompiledPolicy, compile_policy, kind_key

__all__ = [
    "CelError",
    "CompiledPolicy",
    "Gathered",
    "Inventory",
    "Verdict",
    "Viewer",
    "batchjob_status",
    "builtin_policy",
    "compile_policy",
    "default_policy_text",
    "gather",
    "kind_key",
    "layers_for",
    "normalize",
]
