"""The demo's live view of its BatchJobs: one line per job, redrawn or appended.

On a terminal the block of lines is redrawn in place about once a second (plain
ANSI: cursor up, erase line). Anywhere else (CI, a pipe) a job gets a new line only
when its status, progress or running count changed, so logs stay readable.
"""

import os
import shutil
from dataclasses import dataclass
from typing import Protocol, TextIO

from taskmill.api import BatchJob
from taskmill.api.common import TERMINAL_JOB_PHASES, JobPhase

BAR_WIDTH = 24
_COLORS = {"Success": "32", "Failure": "31", "Cancel": "31", "Running": "36", "Restart": "33"}


@dataclass(frozen=True)
class JobRow:
    name: str
    phase: JobPhase
    status: str
    succeeded: int
    total: int
    running: int

    @classmethod
    def of(cls, job: BatchJob) -> "JobRow":
        status, counts = job.status, job.status.counts
        return cls(
            name=job.metadata.name,
            phase=status.phase,
            # Before the operator's first status write, a job has no normalized status yet.
            status=status.normalized_status if status.observed_generation is not None else "-",
            succeeded=counts.succeeded,
            total=counts.total,
            running=counts.leased,
        )

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_JOB_PHASES

    @property
    def failed(self) -> bool:
        return self.phase in (JobPhase.FAILED, JobPhase.CANCELLED)


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width * done // total if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def format_row(row: JobRow, *, color: bool = False) -> str:
    status = f"{row.status:<11}"
    if color and row.status in _COLORS:
        status = f"\x1b[{_COLORS[row.status]}m{status}\x1b[0m"
    progress = f"{row.succeeded}/{row.total}"
    running = f"{row.running} running" if row.running else ""
    return f"{row.name:<12} {status} {progress:>7} {bar(row.succeeded, row.total)} {running}"


class Display(Protocol):
    def note(self, text: str) -> None: ...
    def show(self, rows: list[JobRow], elapsed: float) -> None: ...


class LiveDisplay:
    """Redraws the job lines in place on a terminal."""

    def __init__(self, out: TextIO, *, color: bool) -> None:
        self.out = out
        self.color = color
        self._drawn = 0

    def note(self, text: str) -> None:
        """A line printed above the live block, which is redrawn below it next time."""
        self._erase()
        print(text, file=self.out, flush=True)

    def show(self, rows: list[JobRow], elapsed: float) -> None:
        # Wider than the terminal, a line would wrap and throw off the cursor arithmetic.
        width = shutil.get_terminal_size().columns - 1
        header = f"{'JOB':<12} {'STATUS':<11} {'DONE':>7} {'':<{BAR_WIDTH + 2}} {elapsed:.0f}s"
        plain = [header] + [format_row(row) for row in rows]
        if self.color and all(len(line) <= width for line in plain):
            lines = [header] + [format_row(row, color=True) for row in rows]
        else:
            lines = [line[:width] for line in plain]
        self._erase()
        self.out.write("".join(f"{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def _erase(self) -> None:
        if self._drawn:
            # Cursor to the start of the first drawn line, then erase to the end of screen.
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0


class PlainDisplay:
    """Appends one line per job whenever what it shows changed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last: dict[str, tuple[str, int, int, int]] = {}

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show(self, rows: list[JobRow], elapsed: float) -> None:
        for row in rows:
            key = (row.status, row.succeeded, row.total, row.running)
            if self._last.get(row.name) != key:
                self._last[row.name] = key
                print(f"{elapsed:6.1f}s  {format_row(row)}", file=self.out, flush=True)


def display_for(out: TextIO) -> Display:
    if out.isatty() and os.environ.get("TERM", "dumb") != "dumb":
        return LiveDisplay(out, color="NO_COLOR" not in os.environ)
    return PlainDisplay(out)
