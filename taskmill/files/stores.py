"""The object stores a provider knows, read from its stores file.

The file is configuration, not a secret (the chart renders it into a ConfigMap):

    default: main
    stores:
      main:
        endpoint: http://seaweedfs.storage:8333
        bucket: taskmill
        region: us-east-1
        credentials: /var/run/taskmill/stores/main   # a mounted Secret

`credentials` is a directory holding the files `accessKeyId` and `secretAccessKey`
(the keys of the Secret the provider pool mounts there). Without it the standard
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables are used. Tasks name
a store only by its name; they never carry an endpoint or a credential.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class StoreConfigError(ValueError):
    """The stores file is malformed, or names a store without what it needs."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class StoreConfig:
    name: str
    endpoint: str
    bucket: str
    region: str = "us-east-1"
    credentials: Path | None = None

    def read_credentials(self, env: Mapping[str, str] = os.environ) -> Credentials:
        """From the mounted Secret's files, else from the environment. The client reads
        them once, when it first uses the store: a rotated Secret takes effect when the
        provider restarts."""
        if self.credentials is not None:
            try:
                return Credentials(
                    (self.credentials / "accessKeyId").read_text().strip(),
                    (self.credentials / "secretAccessKey").read_text().strip(),
                )
            except OSError as e:
                raise StoreConfigError(
                    f"store {self.name!r}: cannot read its credentials in "
                    f"{self.credentials}: {e.strerror}"
                ) from None
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise StoreConfigError(
                f"store {self.name!r} has no credentials directory and AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY are not set"
            )
        return Credentials(key, secret)


@dataclass(frozen=True)
class Stores:
    """The stores by name; the empty name is the default store."""

    by_name: dict[str, StoreConfig]
    default: str = ""

    def get(self, name: str) -> StoreConfig:
        wanted = name or self.default
        if not wanted:
            raise StoreConfigError("the task uses the default store, but none is configured")
        try:
            return self.by_name[wanted]
        except KeyError:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise StoreConfigError(
                f"object store {wanted!r} is not configured on this provider (known: {known})"
            ) from None


def load_stores(path: Path) -> Stores:
    try:
        body = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise StoreConfigError(f"cannot read the stores file {path}: {e}") from None
    return parse_stores(body, base=path.parent)


def parse_stores(body: Any, base: Path = Path(".")) -> Stores:
    if not isinstance(body, dict) or not isinstance(body.get("stores"), dict):
        raise StoreConfigError("the stores file must be a mapping with a `stores` mapping")
    stores = {name: _store(name, spec, base) for name, spec in body["stores"].items()}
    default = body.get("default", "")
    if len(stores) == 1 and not default:
        default = next(iter(stores))
    if default and default not in stores:
        raise StoreConfigError(f"default store {default!r} is not among the stores")
    return Stores(stores, default)


def _store(name: str, spec: Any, base: Path) -> StoreConfig:
    if not isinstance(spec, dict):
        raise StoreConfigError(f"store {name!r} must be a mapping")
    missing = [k for k in ("endpoint", "bucket") if not isinstance(spec.get(k), str)]
    if missing:
        raise StoreConfigError(f"store {name!r} needs {' and '.join(missing)}")
    unknown = sorted(set(spec) - {"endpoint", "bucket", "region", "credentials"})
    if unknown:
        raise StoreConfigError(f"store {name!r}: unknown fields {unknown}")
    credentials = spec.get("credentials")
    return StoreConfig(
        name=name,
        endpoint=spec["endpoint"].rstrip("/"),
        bucket=spec["bucket"],
        region=str(spec.get("region") or "us-east-1"),
        credentials=None if credentials is None else base / str(credentials),
    )
