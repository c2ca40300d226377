"""kopf handlers: BatchJob watch events into the store, nothing else.

Only `@kopf.on.event` is registered: kopf then keeps no state on the objects, adds no
finalizer and makes no write of its own (see the kopf notes); everything the operator
writes, the reconciler writes. Tasks are not watched through kopf at all: their events
are the hot path and taskmill.operator.watching handles them for a fraction of the CPU.
"""

from typing import Any

import kopf
from taskmill.operator.store import Store

from taskmill.api.meta import GROUP, VERSION


def build_registry(store: Store) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    # A plain registry has none of kopf's fallback logins: use the kubernetes client's
    # kubeconfig / in-cluster loading, as taskmill.kube does.
    @kopf.on.login(registry=registry)
    def operator_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.event(GROUP, VERSION, "batchjobs", registry=registry)
    async def batchjob_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED":
            store.delete_job(body.metadata.namespace or "", body.metadata.name or "")
        else:
            store.put_job(dict(body))

    return registry


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Namespaces are given on the command line: no cluster-wide CRD/namespace watches.
    settings.scanning.disabled = True
    settings.posting.enabled = False
    return settings
