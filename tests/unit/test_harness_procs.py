import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import procs
from tests.harness.polling import wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_stop_group_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    stubborn += "print('ready', flush=True); time.sleep(60)"
    proc = procs.spawn([sys.executable, "-c", stubborn], tmp_path / "log", die_with_parent=False)
    wait_for(lambda: "ready" in (tmp_path / "log").read_text(), timeout=10, what="child ready")

    started = time.monotonic()
    procs.stop_group(proc.pid, procs.child_exited(proc), grace=0.5)

    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_children_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    # An intermediate process plays pytest: it spawns a sleeper and is then SIGKILLed.
    script = (
        "import sys; from pathlib import Path; from tests.harness import procs; "
        f"p = procs.spawn({SLEEPER!r}, Path(sys.argv[1]), die_with_parent=True); "
        "print(p.pid, flush=True); sys.stdin.read()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert procs.running(child)

    parent.kill()
    parent.wait()

    wait_for(lambda: not procs.running(child), timeout=10, what="orphaned child to die")


def test_find_matches_program_and_argument(tmp_path: Path) -> None:
    marker = f"{tmp_path}/"
    proc = procs.spawn([*SLEEPER, marker], tmp_path / "log", die_with_parent=True)
    try:
        program = Path(sys.executable).name
        assert list(procs.find({program}, marker)) == [proc.pid]
        assert list(procs.find({"etcd"}, marker)) == []
        assert list(procs.find({program}, f"{tmp_path}-other/")) == []
    finally:
        procs.stop_group(proc.pid, procs.child_exited(proc))
    assert list(procs.find({program}, marker)) == []
