"""Confinement of every staged or collected path to the task's working directory.

Admission already refuses absolute paths and `..`; these checks run again where the
bytes move, because a prefix's object keys and the work's own files (symlinks
included) are only known then.
"""

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath


class PathError(ValueError):
    """A path that would leave the working directory."""


def confined(workdir: Path, relative: str) -> Path:
    """`relative` under `workdir`, refusing absolute paths, `..` and symlinks leading out.

    The target itself may not exist yet; every existing parent is resolved, so a symlink
    the work planted on the way cannot redirect a write outside.
    """
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute():
        raise PathError(f"{relative!r} is not a relative path")
    if ".." in pure.parts:
        raise PathError(f"{relative!r} climbs out of the working directory ('..')")
    root = workdir.resolve()
    target = root.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(root):
        raise PathError(f"{relative!r} leads out of the working directory (a symlink)")
    return target


def matches(workdir: Path, pattern: str) -> Iterator[tuple[str, Path]]:
    """Regular files under `workdir` matching the glob, as (relative path, path).

    `**` matches any depth. Symlinks are never followed out: a match that resolves
    outside the working directory, or to something not a regular file, is refused.
    """
    confined(workdir, pattern.replace("*", "x").replace("?", "x"))
    root = workdir.resolve()
    for path in sorted(root.glob(pattern)):
        relative = path.relative_to(root).as_posix()
        # The file itself or a directory on its way may be a symlink leading out.
        if not path.resolve().is_relative_to(root):
            raise PathError(f"{relative!r} leads out of the working directory (a symlink)")
        if path.is_file():
            yield relative, path


PARTIAL_PREFIX = ".taskmill-partial-"


def partial_for(target: Path) -> Path:
    """Where `target`'s bytes are written before the rename that makes them visible."""
    return target.with_name(f"{PARTIAL_PREFIX}{target.name}.{os.getpid()}")
