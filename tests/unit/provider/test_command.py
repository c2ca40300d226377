"""CommandRunner against real processes (no cluster)."""

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from taskmill.provider.command import CommandRunner
from taskmill.provider.context import Context
from taskmill.provider.results import Outcome

from taskmill.api.task import Task
from tests.unit.provider.tasks import task_obj

TASK = Task.model_validate(task_obj("job-3", index=3))


def run(argv: list[str], cancel_after: float | None = None, task: Task = TASK) -> Outcome:
    async def main(workdir: str) -> Outcome:
        ctx = Context(task, kill_grace_seconds=1, workdir=Path(workdir))
        if cancel_after is not None:
            asyncio.get_running_loop().call_later(cancel_after, ctx.cancelled.set)
        return await CommandRunner(argv).execute(task, ctx)

    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(main(workdir))


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_params_on_stdin_and_env() -> None:
    outcome = run(
        py(
            "import json, os, sys; p = json.load(sys.stdin);"
            "print(p == json.loads(os.environ['TASKMILL_PARAMS']), os.environ['TASKMILL_TASK'])"
        )
    )
    assert outcome.succeeded
    assert outcome.result.output == "True job-3\n"


def test_result_file_becomes_the_result() -> None:
    code = (
        "import json, os; json.dump({'message': 'resized', 'output': {'w': 3}},"
        " open(os.environ['TASKMILL_RESULT'], 'w'))"
    )
    outcome = run(py(code))
    assert (outcome.result.message, outcome.result.output) == ("resized", json.dumps({"w": 3}))


def test_non_zero_exit_and_output_tail() -> None:
    outcome = run(py("import sys; print('x' * 10000); print('last'); sys.exit(4)"))
    assert not outcome.succeeded
    assert (outcome.result.exit_code, outcome.reason) == (4, "NonZeroExit")
    assert outcome.result.output.endswith("last\n")
    assert len(outcome.result.output) == 4096


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def gone(pids: list[int], timeout: float = 5) -> bool:
    """Whether all pids leave the process table within `timeout` (a signal is asynchronous)."""
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_cancel_terminates_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A shell that starts a grandchild ignoring SIGTERM: SIGKILL after grace must reach it.
    script = f"sh -c 'trap \"\" TERM; echo $$ >> {pids}; sleep 60' & echo $$ >> {pids}; wait"
    started = time.monotonic()
    outcome = run(["sh", "-c", script], cancel_after=0.5)
    assert time.monotonic() - started < 10
    assert not outcome.succeeded
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2
    assert gone(recorded)


def test_leftover_children_are_killed_when_the_command_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    outcome = run(["sh", "-c", f"sleep 60 > /dev/null & echo $! > {pid_file}"])
    assert outcome.succeeded
    assert gone([int(pid_file.read_text())])


def test_command_that_ignores_stdin() -> None:
    assert run(["true"]).succeeded


def test_command_that_cannot_start() -> None:
    outcome = run(["/nonexistent/command"])
    assert (outcome.succeeded, outcome.reason) == (False, "StartFailed")
    assert "/nonexistent/command" in outcome.result.message


def test_cancelling_the_executor_kills_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> None:
        runner = CommandRunner(["sh", "-c", f"echo $$ > {pid_file}; sleep 60"])
        ctx = Context(TASK, kill_grace_seconds=1, workdir=tmp_path)
        work = asyncio.create_task(runner.execute(TASK, ctx))
        deadline = time.monotonic() + 10
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the command never started"
            await asyncio.sleep(0.02)
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)

    asyncio.run(main())
    assert gone([int(pid_file.read_text())])


def big_task() -> Task:
    obj = task_obj("big")
    obj["spec"]["params"] = {"blob": "x" * 200_000}  # over Linux's 128 KiB per env string
    return Task.model_validate(obj)


BIG = big_task()


def test_params_of_any_size_reach_the_command_on_stdin_and_in_a_file() -> None:
    code = (
        "import json, os, sys; p = json.load(sys.stdin);"
        "f = json.load(open(os.environ['TASKMILL_PARAMS_FILE']));"
        "print(len(p['blob']), p == f, 'TASKMILL_PARAMS' in os.environ)"
    )
    outcome = run(py(code), task=BIG)
    assert outcome.succeeded, outcome.result
    assert outcome.result.output == "200000 True False\n"


def test_a_command_that_never_reads_its_stdin_can_still_be_stopped() -> None:
    # 200 KB of params overfill the pipe: feeding them must not hold off the stop, which
    # ends the command by SIGTERM (it would otherwise sleep its minute and exit 0).
    outcome = run(["sleep", "60"], cancel_after=0.5, task=BIG)
    assert (outcome.succeeded, outcome.result.exit_code) == (False, -15)


def test_the_command_gets_a_directory_of_its_own() -> None:
    code = (
        "import os; d = os.environ['TASKMILL_WORKDIR'];"
        "print(sorted(os.listdir(d)), os.getcwd() == os.environ['PWD_BEFORE'])"
    )
    os.environ["PWD_BEFORE"] = os.getcwd()
    try:
        outcome = run(py(code))
    finally:
        del os.environ["PWD_BEFORE"]
    assert outcome.result.output == "['params.json'] True\n"


def leased_task(timeout: int | None) -> Task:
    obj = task_obj("fenced", phase="Running", holder="me", epoch=4)
    obj["status"].update(attempts=2, startTime="2026-01-01T00:00:00Z")
    obj["spec"]["timeoutSeconds"] = timeout
    return Task.model_validate(obj)


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(90, "2026-01-01T00:01:30.000000Z"), (None, "none")]
)
def test_the_command_is_told_its_epoch_attempt_and_deadline(
    timeout: int | None, deadline: str
) -> None:
    code = (
        "import os; e = os.environ;"
        "print(e['TASKMILL_EPOCH'], e['TASKMILL_ATTEMPT'], e.get('TASKMILL_DEADLINE', 'none'))"
    )
    outcome = run(py(code), task=leased_task(timeout))
    assert outcome.result.output == f"4 3 {deadline}\n"


def test_a_grandchild_holding_stdout_does_not_cost_the_output_tail(tmp_path: Path) -> None:
    # The grandchild leaves the process group (so the group's SIGKILL misses it) and
    # sleeps on with the command's stdout open: EOF never comes while it lives.
    pid_file = tmp_path / "grandchild"
    grandchild = (
        f"import os, time; os.setsid(); open('{pid_file}', 'w').write(str(os.getpid()));"
        "time.sleep(60)"
    )
    script = (
        f'echo first; {sys.executable} -c "{grandchild}" &'
        f" while [ ! -s {pid_file} ]; do sleep 0.05; done; echo last"
    )
    try:
        outcome = run(["sh", "-c", script])
        assert (outcome.succeeded, outcome.result.output) == (True, "first\nlast\n")
        # The command's end was reported while the grandchild still held stdout, not
        # only once it let go (it may never).
        assert _alive(int(pid_file.read_text()))
    finally:
        wait_until(pid_file.exists)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_stderr_lines_reach_the_log_prefixed_with_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = (
        "import sys; sys.stderr.write('loading\\nwarn: slow\\r\\n' + 'x' * 40000 + '\\npartial');"
        "print('out')"
    )
    with caplog.at_level("INFO", logger="taskmill.task"):
        outcome = run(py(code))
    assert outcome.result.output == "out\n"  # stdout stays the result
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("taskmill.task")]
    assert lines[:2] == ["task job-3: loading", "task job-3: warn: slow"]
    assert lines[-1] == "task job-3: partial"  # the last line, without a newline
    long = "".join(line.removeprefix("task job-3: ") for line in lines[2:-1])
    assert long == "x" * 40000  # logged in parts, nothing lost
    assert all(
        getattr(r, "task", None) == "job-3"
        for r in caplog.records
        if r.name.startswith("taskmill.task")
    )


def test_the_tasks_variables_win_over_the_providers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A provider itself run as a task has TASKMILL_ variables of its own: each is
    # passed once, with the value of the task it runs now.
    monkeypatch.setenv("TASKMILL_TASK", "the-provider's-own")
    monkeypatch.setenv("KEPT", "yes")
    code = "import os; e = os.environ; print(e['TASKMILL_TASK'], e['KEPT'])"
    assert run(py(code)).result.output == "job-3 yes\n"
