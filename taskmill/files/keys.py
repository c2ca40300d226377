"""Object references, output key templates and item inputs: pure string work.

A source is a key in the store's bucket or an `s3://bucket/key` URI; a trailing '/'
makes it a prefix. Output keys come from a template filled per file.
"""

import re
import string
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from taskmill.api.files import KEY_PLACEHOLDERS, ItemInput

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SourceError(ValueError):
    """A source or template that names no object."""


@dataclass(frozen=True)
class ObjectRef:
    """An object (or prefix) in a store: bucket None means the store's own bucket."""

    bucket: str | None
    key: str

    @property
    def is_prefix(self) -> bool:
        return self.key.endswith("/")

    def __str__(self) -> str:
        return self.key if self.bucket is None else f"s3://{self.bucket}/{self.key}"


def parse_source(source: str) -> ObjectRef:
    if "://" not in source:
        if not source or source.startswith("/"):
            raise SourceError(f"{source!r} is not an object key")
        return ObjectRef(None, source)
    scheme, _, rest = source.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not _BUCKET.fullmatch(bucket) or not key:
        raise SourceError(f"{source!r} is not an s3://bucket/key URI")
    return ObjectRef(bucket, key)


def render_key(template: str, values: dict[str, str]) -> str:
    """The key of one output file. Unknown placeholders were refused at admission."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = names - set(KEY_PLACEHOLDERS)
    if unknown:
        raise SourceError(f"key template {template!r}: unknown placeholders {sorted(unknown)}")
    return template.format_map(values)


def output_values(
    namespace: str, job: str, task: str, index: int, attempt: int, path: str
) -> dict[str, str]:
    return {
        "namespace": namespace,
        "job": job,
        "task": task,
        "index": str(index),
        "attempt": str(attempt),
        "path": path,
        "name": PurePosixPath(path).name,
    }


def item_source(item: Any, spec: ItemInput) -> str:
    """The object an item names: the item itself (a string) or its `field`."""
    value = item.get(spec.field) if spec.field is not None and isinstance(item, dict) else item
    if spec.field is None and not isinstance(item, str):
        raise SourceError("the item is not a string naming an object (set itemInput.field)")
    if not isinstance(value, str) or not value:
        raise SourceError(f"the item has no string field {spec.field!r} naming an object")
    parse_source(value)
    return value


def item_path(spec: ItemInput, source: str, position: int) -> str:
    name = PurePosixPath(parse_source(source).key).name
    return spec.path.format_map({"name": name, "position": str(position)})
