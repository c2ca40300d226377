"""A pool's scaleTargetRef as a URL: found through API discovery, never guessed.

The plural of a kind, and whether it has a /scale subresource, are what the API server
says they are: one discovery request per group/version, kept for the operator's term.
"""

from dataclasses import dataclass

from taskmill.api.providerpool import ScaleTargetRef
from taskmill.kube import ApiError, KubeApi


class TargetError(Exception):
    """The target cannot be scaled: `reason` is the Ready condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ScaleTarget:
    scale_path: str  # .../namespaces/NS/<plural>/<name>/scale


class Targets:
    def __init__(self, kube: KubeApi) -> None:
        self._kube = kube
        self._resources: dict[str, dict[str, tuple[str, bool]]] = {}  # apiVersion -> kind ->

    async def resolve(self, ref: ScaleTargetRef, namespace: str) -> ScaleTarget:
        kinds = await self._discover(ref.api_version)
        found = kinds.get(ref.kind)
        if found is None:
            raise TargetError(
                "TargetNotFound", f"the API server serves no kind {ref.kind} in {ref.api_version}"
            )
        plural, scalable = found
        if not scalable:
            raise TargetError(
                "TargetNotScalable",
                f"{ref.kind} ({ref.api_version}) has no /scale subresource; point "
                "scaleTargetRef at a Deployment, StatefulSet or another scalable kind",
            )
        base = "/api/v1" if ref.api_version == "v1" else f"/apis/{ref.api_version}"
        return ScaleTarget(f"{base}/namespaces/{namespace}/{plural}/{ref.name}/scale")

    async def _discover(self, api_version: str) -> dict[str, tuple[str, bool]]:
        known = self._resources.get(api_version)
        if known is not None:
            return known
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = await self._kube.get(path)
        except ApiError as e:
            if e.status == 404:
                raise TargetError(
                    "TargetNotFound", f"the API server does not serve {api_version}"
                ) from e
            raise
        names = {r.get("name", "") for r in listing.get("resources", [])}
        kinds = {
            r["kind"]: (r["name"], f"{r['name']}/scale" in names)
            for r in listing.get("resources", [])
            if "/" not in r.get("name", "/")
        }
        self._resources[api_version] = kinds
        return kinds
