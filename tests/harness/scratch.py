"""A fresh state directory per pytest session, and removal of ones whose session died.

A session holds an flock on <dir>/.lock while it runs; the kernel drops it when the
process dies however it dies, so a later session can tell abandoned directories
(etcd preallocates 64 MB of WAL in each) from ones still in use.
"""

import fcntl
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.controlplane import stop_state_dir

PREFIX = "taskmill-cp-"
# Between mkdtemp and flock a directory is unlocked: leave young ones alone.
MIN_AGE_SECONDS = 60.0


@contextmanager
def session_state_dir(*, keep: bool = False) -> Iterator[Path]:
    """Yields a new directory under the temp dir; removed afterwards unless `keep`."""
    remove_abandoned()
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    lock_path = path / ".lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            if keep:  # without a lock file, remove_abandoned() leaves the directory alone
                lock_path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)


def remove_abandoned(parent: Path | None = None) -> list[Path]:
    removed = []
    for path in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if time.time() - path.stat().st_mtime < MIN_AGE_SECONDS:
                continue
            lock = (path / ".lock").open("r")
        except FileNotFoundError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its session is alive
            stop_state_dir(path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
