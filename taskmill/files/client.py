"""The store's client: streamed, hashed transfers over obstore.

obstore (Rust, no Python dependencies, async) was chosen by measurement over boto3
(see docs/files.md). Memory stays bounded by the chunk size whatever the object's
size: downloads are written chunk by chunk, uploads go multipart from the file.
obstore retries transient errors (5xx, dropped connections, timeouts) with backoff;
what is left is classified so that a failed attempt says what went wrong and where.
"""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

import obstore
from obstore.exceptions import NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

from taskmill.files.keys import ObjectRef
from taskmill.files.paths import partial_for
from taskmill.files.stores import StoreConfig, StoreConfigError

if TYPE_CHECKING:
    from obstore import GetOptions, ObjectMeta

# Object metadata (x-amz-meta-sha256) that taskmill's uploads carry and its downloads check.
SHA256_ATTRIBUTE = "sha256"
CHUNK = 1024 * 1024
PART = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 4
RETRIES = 3


class Failure(StrEnum):
    MISSING = "InputMissing"  # no such object: not transient, retrying cannot help
    REFUSED = "StoreRefused"  # credentials or permissions
    UNREACHABLE = "StoreUnreachable"  # after the client's own retries
    CORRUPT = "InputCorrupt"  # size or sha256 differ from what was promised
    CONFIG = "StoreNotConfigured"


class StoreError(Exception):
    """A transfer that failed, with the store and object it concerned."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str


class ObjectClient:
    """One store's buckets, each a lazily made S3Store sharing the store's settings."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._buckets: dict[str, S3Store] = {}

    @property
    def name(self) -> str:
        return self.config.name

    def where(self, ref: ObjectRef) -> str:
        """How a failure names the object: the store, its endpoint, the bucket and key."""
        bucket = ref.bucket or self.config.bucket
        return f"s3://{bucket}/{ref.key} in store {self.name!r} ({self.config.endpoint})"

    def _store(self, ref: ObjectRef) -> S3Store:
        bucket = ref.bucket or self.config.bucket
        if bucket not in self._buckets:
            try:
                creds = self.config.read_credentials()
            except StoreConfigError as e:
                raise StoreError(Failure.CONFIG, str(e)) from None
            self._buckets[bucket] = S3Store(
                bucket,
                config={
                    "endpoint": self.config.endpoint,
                    "region": self.config.region,
                    "access_key_id": creds.access_key_id,
                    "secret_access_key": creds.secret_access_key,
                    "virtual_hosted_style_request": False,
                },
                client_options={
                    "allow_http": self.config.endpoint.startswith("http://"),
                    "connect_timeout": timedelta(seconds=5),
                    "read_timeout": timedelta(seconds=30),
                    # A whole transfer may take long; stalls are caught by read_timeout.
                    "timeout": timedelta(hours=6),
                },
                retry_config={
                    "max_retries": RETRIES,
                    "retry_timeout": timedelta(seconds=30),
                    "backoff": {"init_backoff": timedelta(milliseconds=200), "base": 2},
                },
            )
        return self._buckets[bucket]

    async def head(self, ref: ObjectRef) -> ObjectInfo:
        try:
            meta = await obstore.head_async(self._store(ref), ref.key)
        except Exception as e:
            raise self._error(e, ref) from None
        return _info(meta)

    async def list(self, prefix: ObjectRef) -> list[ObjectInfo]:
        objects: list[ObjectInfo] = []
        try:
            async for batch in obstore.list(self._store(prefix), prefix.key, chunk_size=1000):
                objects.extend(_info(meta) for meta in batch)
        except Exception as e:
            raise self._error(e, prefix) from None
        return objects

    async def download(
        self, ref: ObjectRef, dest: Path, expect: ObjectInfo | None, sha256: str | None
    ) -> Digest:
        """Stream the object to `dest`, verifying its size (the one planned, else the one
        the GET announced), its etag when planned, and its sha256 (the one declared, else
        the one taskmill's upload recorded). Nothing is left at `dest` unless every check
        passed."""
        partial = partial_for(dest)
        try:
            try:
                # If-Match: the bytes are those of the object whose size was planned.
                options: GetOptions = {"if_match": expect.etag} if expect and expect.etag else {}
                got = await obstore.get_async(self._store(ref), ref.key, options=options)
                size = expect.size if expect else got.meta["size"]
                wanted = sha256 or got.attributes.get(SHA256_ATTRIBUTE)
                digest = await _write(got.stream(min_chunk_size=CHUNK), partial)
            except StoreError:
                raise
            except Exception as e:
                raise self._error(e, ref) from None
            if digest.size != size:
                raise StoreError(
                    Failure.CORRUPT,
                    f"{self.where(ref)}: got {digest.size} bytes, expected {size}",
                )
            if wanted and digest.sha256 != wanted:
                raise StoreError(
                    Failure.CORRUPT,
                    f"{self.where(ref)}: sha256 {digest.sha256} differs from {wanted}",
                )
            partial.rename(dest)
            return digest
        finally:
            partial.unlink(missing_ok=True)

    async def upload(self, path: Path, ref: ObjectRef) -> Digest:
        """Hash the file, then send it multipart with its sha256 as metadata. An object
        appears at the key only once the upload completes (S3's multipart guarantee)."""
        digest = await asyncio.to_thread(hash_file, path)
        await self._put(ref, path, digest)
        return digest

    async def upload_bytes(self, data: bytes, ref: ObjectRef) -> Digest:
        digest = Digest(len(data), hashlib.sha256(data).hexdigest())
        await self._put(ref, data, digest)
        return digest

    async def _put(self, ref: ObjectRef, payload: Path | bytes, digest: Digest) -> None:
        try:
            await obstore.put_async(
                self._store(ref),
                ref.key,
                payload,
                attributes={SHA256_ATTRIBUTE: digest.sha256},
                chunk_size=PART,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        except Exception as e:
            raise self._error(e, ref) from None

    def _error(self, e: Exception, ref: ObjectRef) -> StoreError:
        if isinstance(e, StoreError):
            return e
        where = self.where(ref)
        text = str(e)
        # obstore raises the builtin FileNotFoundError / PermissionError for some of these.
        if isinstance(e, NotFoundError | FileNotFoundError) or "NoSuchBucket" in text:
            return StoreError(Failure.MISSING, f"{where}: no such object")
        refused = (PermissionDeniedError, UnauthenticatedError, PermissionError)
        if isinstance(e, refused) or _refusal(text):
            return StoreError(Failure.REFUSED, f"{where}: the store refused the credentials")
        if "Precondition" in text or "412" in text:
            return StoreError(Failure.CORRUPT, f"{where}: the object changed while staged")
        return StoreError(Failure.UNREACHABLE, f"{where}: {_first_line(text)}")


def _refusal(text: str) -> bool:
    return any(
        marker in text
        for marker in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403")
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "request failed"


def _info(meta: "ObjectMeta") -> ObjectInfo:
    return ObjectInfo(key=meta["path"], size=meta["size"], etag=meta["e_tag"] or "")


async def _write(chunks: AsyncIterator[object], partial: Path) -> Digest:
    partial.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with partial.open("wb") as f:
        async for chunk in chunks:
            data = memoryview(chunk)  # type: ignore[arg-type]
            size += len(data)
            # Off the event loop: hashing and writing release the GIL.
            await asyncio.to_thread(_hash_write, digest, f, data)
    return Digest(size, digest.hexdigest())


def _hash_write(digest: "hashlib._Hash", f: IO[bytes], data: memoryview) -> None:
    digest.update(data)
    f.write(data)


def hash_file(path: Path) -> Digest:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return Digest(size, digest.hexdigest())
