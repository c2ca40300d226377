"""Starting and stopping control-plane processes so that none outlives its owner.

Each component runs in its own session, hence its own process group: stopping
signals the whole group, and a Ctrl-C in the terminal reaches only the Python
process, which then tears the components down in order. For a pytest-owned control
plane, PR_SET_PDEATHSIG additionally makes the kernel kill the components when
the thread that started them dies, even if pytest itself is SIGKILLed.
"""

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1

# Resolved in the parent: the preexec hook runs between fork and exec, where
# loading a library is not safe.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent_hook() -> Callable[[], None]:
    parent = os.getpid()

    def hook() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def spawn(
    args: Sequence[str | Path],
    log: Path,
    *,
    die_with_parent: bool,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> "subprocess.Popen[bytes]":
    """Start a process in a new session with stdout and stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(a) for a in args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook() if die_with_parent else None,
            env=env,
            cwd=cwd,
        )


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group `pid` leads (all our components lead one), else just `pid`."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting for a parent that never reaps."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def child_exited(proc: "subprocess.Popen[bytes]") -> Callable[[float], bool]:
    def wait(timeout: float) -> bool:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    return wait


def pid_exited(pid: int) -> Callable[[float], bool]:
    """For processes we did not start (e.g. started by an earlier `up`): poll /proc."""

    def wait(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while running(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    return wait


def stop_group(pid: int, exited: Callable[[float], bool], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL it if it is still there."""
    _signal(pid, signal.SIGTERM)
    if not exited(grace):
        _signal(pid, signal.SIGKILL)
        exited(grace)


def find(programs: Collection[str], marker: str) -> Iterator[int]:
    """Live processes running one of `programs` (by basename) with `marker` in their arguments.

    Zombies have an empty command line, so they never match.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if Path(argv[0]).name in programs and any(marker in arg for arg in argv[1:]):
            yield int(entry.name)
