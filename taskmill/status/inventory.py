"""What a viewer listed, indexed so adapters find an object's children without requests."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from taskmill.status.policy import KindKey, kind_key

Obj = Mapping[str, Any]


class Inventory:
    """Listed objects by their controller owner's uid and their kind."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._children: dict[tuple[str, KindKey], list[Obj]] = defaultdict(list)
        for obj in objects:
            key = kind_key(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            for owner in (obj.get("metadata") or {}).get("ownerReferences") or ():
                if owner.get("controller"):
                    self._children[(str(owner.get("uid", "")), key)].append(obj)

    def children(self, uid: str, key: KindKey) -> list[Obj]:
        """Objects of kind `key` whose controller is the object with this uid."""
        return list(self._children.get((uid, key), ()))
