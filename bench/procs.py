"""The operator and providers as real processes, started the way a user starts them.

Each runs `python -m taskmill.operator|provider ...` through bench.counted (which only
counts its HTTP requests), in its own session so that a scenario can SIGKILL or SIGSTOP
it and everything it started. Logs and request tallies go to the launcher's log dir.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.counted import PROFILE_ENV
from tests.harness.polling import wait_for

READY_TIMEOUT = 60.0


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.tally = log_dir / f"{name}.requests.json"
        self.tally.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "bench.counted", str(self.tally), *args]
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.peak_rss_kib = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        """Signal the process only (not its commands, which run in sessions of their own)."""
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a node failure would."""
        self.sample_rss()
        self.signal(signal.SIGCONT)  # a stopped process must not linger as stopped
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a graceful exit), then SIGKILL if it takes too long."""
        if not self.alive():
            return
        self.sample_rss()
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def sample_rss(self) -> int:
        """Peak resident memory so far (VmHWM, KiB), remembered across samples."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        return self.peak_rss_kib

    def cpu_seconds(self, children: bool = True) -> float:
        return cpu_seconds(self.pid, children)

    def requests(self) -> Counter[str]:
        try:
            return Counter(json.loads(self.tally.read_text()))
        except (FileNotFoundError, ValueError):
            return Counter()

    def wait_ready(self, marker: str, timeout: float = READY_TIMEOUT) -> None:
        wait_for(
            lambda: marker in self.log_text() or not self.alive(),
            timeout=timeout,
            what=f"{self.name} to log {marker!r}",
            interval=0.05,
        )
        if not self.alive():
            raise RuntimeError(f"{self.name} exited early:\n{self.log_text()[-3000:]}")


class Launcher:
    """Starts operators and providers against one cluster and stops them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, profile: bool = False) -> None:
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        if profile:
            self.env[PROFILE_ENV] = str(log_dir)
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []

    def operator(
        self, namespace: str, identity: str = "bench-operator", extra: Sequence[str] = ()
    ) -> Proc:
        args = [
            "taskmill.operator", "--namespace", namespace, "--identity", identity,
            "--metrics-bind-address", "0", *extra,
        ]  # fmt: skip
        return self._start(f"{namespace}-{identity}", args, {})

    def provider(
        self,
        namespace: str,
        identity: str,
        capability: str,
        command: Sequence[str],
        *,
        concurrency: int = 1,
        lease_seconds: int = 15,
        ready: bool = True,
        extra: Sequence[str] = (),
    ) -> Proc:
        args = [
            "taskmill.provider", "--namespace", namespace, "--capability", capability,
            "--concurrency", str(concurrency), "--lease-seconds", str(lease_seconds),
            # A kill grace that also fits the chaos scenario's 5 s leases.
            "--grace-seconds", "5", "--kill-grace-seconds", "2", *extra,
            "--command", *command,
        ]  # fmt: skip
        proc = self._start(f"{namespace}-{identity}", args, {"POD_NAME": identity})
        if ready:
            proc.wait_ready("serving")
        return proc

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, args, {**self.env, **env}, self.log_dir)
        self.procs.append(proc)
        return proc

    def sample_rss(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.sample_rss()

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.kill()


def wait_quiet(procs: Sequence[Proc], quiet: float = 1.5, within: float = 30) -> None:
    """Until none of `procs` has sent a request for `quiet` seconds (tallies flush twice
    a second), so that start-up lists and watches stay out of a measured window."""
    deadline = time.monotonic() + within
    last = requests_of(procs)
    since = time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests did not settle in {within:.0f}s: {dict(last)}")
        time.sleep(0.1)
        now = requests_of(procs)
        if now != last:
            last, since = now, time.monotonic()


def requests_of(procs: Sequence[Proc]) -> Counter[str]:
    total: Counter[str] = Counter()
    for proc in procs:
        total += proc.requests()
    return total


def resident_kib(pid: int) -> int:
    """Resident memory now (VmRSS, KiB); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_seconds(pid: int, children: bool = True) -> float:
    """CPU time of a live process and (unless told not to) its reaped children (the
    commands it ran), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the ")": state is field 3, so utime..cstime (fields 14-17) sit at 11..14.
    return sum(int(f) for f in fields[11 : 15 if children else 13]) / os.sysconf("SC_CLK_TCK")
