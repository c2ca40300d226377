"""URL paths of API resources."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourcePath:
    """A resource type; `path()` makes the URL for a collection or an object."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


TASKS = ResourcePath("taskmill.io", "v1alpha1", "tasks")
BATCHJOBS = ResourcePath("taskmill.io", "v1alpha1", "batchjobs")
LEASES = ResourcePath("coordination.k8s.io", "v1", "leases")
EVENTS = ResourcePath("events.k8s.io", "v1", "events")
STATUSPOLICIES = ResourcePath("taskmill.io", "v1alpha1", "statuspolicies", namespaced=False)
PODS = ResourcePath("", "v1", "pods")
PROVIDERPOOLS = ResourcePath("taskmill.io", "v1alpha1", "providerpools")
