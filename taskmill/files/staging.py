"""Staging a task's inputs into its working directory and collecting its outputs.

Inputs are expanded (a prefix lists its objects), confined to the working directory,
then fetched in parallel: the job's shared inputs through the content cache, an item's
own object (fetched by one task only) straight into the working directory, with no
lookup before its GET and no copy after it. Outputs are matched after the
work succeeded and uploaded in parallel; the manifest is returned only when every
transfer succeeded, so an attempt that failed half-way records nothing.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from taskmill.api.files import MAX_MANIFEST, FileRecord, TaskFiles, TaskInput
from taskmill.files.cache import ContentCache
from taskmill.files.client import Digest, Failure, ObjectClient, ObjectInfo, StoreError
from taskmill.files.keys import ObjectRef, parse_source, render_key
from taskmill.files.paths import PathError, confined, matches

PARALLEL = 4
REASON_OUTPUT_MISSING = "OutputMissing"
REASON_PATH_REFUSED = "PathRefused"
REASON_TOO_MANY_FILES = "TooManyFiles"

T = TypeVar("T")
R = TypeVar("R")


class StagingError(Exception):
    """Why the attempt's files could not move. `final`: retrying cannot help."""

    def __init__(self, reason: str, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.final = final


@dataclass(frozen=True)
class _Planned:
    ref: ObjectRef  # one object: a prefix is expanded to those under it
    path: str
    sha256: str | None
    shared: bool
    # From a HEAD or the prefix's listing; None: not looked up, the GET tells.
    info: ObjectInfo | None = None


async def stage_inputs(
    files: TaskFiles, client: ObjectClient, cache: ContentCache, workdir: Path
) -> list[FileRecord]:
    planned = await _plan_inputs(files, client, workdir)

    async def place(p: _Planned) -> FileRecord:
        dest = confined(workdir, p.path)
        if not p.shared or p.info is None:
            digest = await client.download(p.ref, dest, p.info, p.sha256)
            return FileRecord(path=p.path, key=str(p.ref), size=digest.size, sha256=digest.sha256)
        info = p.info
        identity = "\0".join(
            [client.name, p.ref.bucket or "", p.ref.key, info.etag, str(info.size)]
        )

        async def fill(target: Path) -> Digest:
            return await client.download(p.ref, target, info, p.sha256)

        digest = await cache.place(identity, dest, fill)
        if p.sha256 and digest.sha256 != p.sha256:
            # A cached copy fetched for another task that declared no sha256.
            raise StagingError(
                Failure.CORRUPT.value,
                f"{client.where(p.ref)}: sha256 {digest.sha256} differs from {p.sha256}",
            )
        return FileRecord(path=p.path, key=str(p.ref), size=digest.size, sha256=digest.sha256)

    return await guarded(_bounded(place, planned))


async def _plan_inputs(files: TaskFiles, client: ObjectClient, workdir: Path) -> list[_Planned]:
    async def expand(i: TaskInput) -> list[_Planned]:
        ref = parse_source(i.source)
        if not ref.is_prefix:
            info = await client.head(ref) if i.shared else None
            return [_Planned(ref, i.path, i.sha256, i.shared, info)]
        found = [o for o in await client.list(ref) if not o.key.endswith("/")]
        if not found:
            raise StoreError(Failure.MISSING, f"{client.where(ref)}: no objects under the prefix")
        return [
            _Planned(
                ObjectRef(ref.bucket, o.key),
                str(PurePosixPath(i.path, o.key[len(ref.key) :])),
                None,
                i.shared,
                o,
            )
            for o in found
        ]

    expanded = await guarded(_bounded(expand, files.inputs))
    planned = [p for group in expanded for p in group]
    if len(planned) > MAX_MANIFEST:
        raise StagingError(
            REASON_TOO_MANY_FILES,
            f"the inputs name {len(planned)} objects; a task stages at most {MAX_MANIFEST}",
            final=True,
        )
    seen: dict[str, str] = {}
    for p in planned:
        try:
            confined(workdir, p.path)
        except PathError as e:
            raise StagingError(REASON_PATH_REFUSED, f"input {p.ref}: {e}", final=True) from None
        if p.path in seen:
            raise StagingError(
                REASON_PATH_REFUSED,
                f"inputs {seen[p.path]} and {p.ref} both land on {p.path!r}",
                final=True,
            )
        seen[p.path] = str(p.ref)
    return planned


async def collect_outputs(
    files: TaskFiles,
    client: ObjectClient,
    workdir: Path,
    values: dict[str, str],
    ignore: frozenset[str] = frozenset(),
) -> list[FileRecord]:
    """Upload every file the outputs match (except the `ignore`d relative paths: the
    runner's own files); fail when a required output matches nothing."""
    chosen: dict[str, tuple[Path, str]] = {}
    for output in files.outputs:
        try:
            found = [(r, p) for r, p in matches(workdir, output.path) if r not in ignore]
        except PathError as e:
            raise StagingError(REASON_PATH_REFUSED, f"output {output.path!r}: {e}") from None
        if not found and not output.optional:
            raise StagingError(
                REASON_OUTPUT_MISSING,
                f"declared output {output.path!r} matched no file; nothing was uploaded to "
                f"store {client.name!r}",
            )
        for relative, path in found:
            key = render_key(output.key, {**values, "path": relative, "name": path.name})
            chosen.setdefault(relative, (path, key))
    if len(chosen) > MAX_MANIFEST:
        raise StagingError(
            REASON_TOO_MANY_FILES,
            f"the outputs match {len(chosen)} files; a task collects at most {MAX_MANIFEST}",
        )

    async def upload(item: tuple[str, tuple[Path, str]]) -> FileRecord:
        relative, (path, key) = item
        digest = await client.upload(path, ObjectRef(None, key))
        return FileRecord(path=relative, key=key, size=digest.size, sha256=digest.sha256)

    return await guarded(_bounded(upload, chosen.items()))


async def _bounded(work: Callable[[T], Awaitable[R]], items: Iterable[T]) -> list[R]:
    """`work` over the items, PARALLEL at a time; the first failure stops the rest."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    tasks = [asyncio.ensure_future(one(i)) for i in items]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def guarded(pending: Awaitable[T]) -> T:
    """`pending`, its store failure turned into the attempt's failure."""
    try:
        return await pending
    except StoreError as e:
        raise StagingError(e.failure.value, str(e), final=e.failure == Failure.MISSING) from None
