"""Discovery: which kinds an API group serves, and where to list them.

Status policies name kinds by apiGroup and kind; listing them needs the plural and
whether they are namespaced, which only discovery knows. One group costs two GETs
(the group, then its preferred version).
"""

from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.paths import ResourcePath


async def served_kinds(kube: KubeApi, group: str) -> dict[str, ResourcePath]:
    """Kind -> path for every top-level resource of the group's preferred version.

    An unserved group gives an empty map.
    """
    try:
        if group:
            info = await kube.get(f"/apis/{group}")
            version = str(info["preferredVersion"]["version"])
        else:
            version = "v1"
        listing = await kube.get(f"/apis/{group}/{version}" if group else "/api/v1")
    except ApiError as e:
        if e.status == 404:
            return {}
        raise
    return {
        str(r["kind"]): ResourcePath(group, version, str(r["name"]), bool(r["namespaced"]))
        for r in listing.get("resources", ())
        if "/" not in str(r["name"])  # subresources such as jobs/status
    }
