"""The staging executor's decisions that need no store: pass-through, unknown stores,
and a result over the inline limit without a store."""

import asyncio
from pathlib import Path

import pytest
from taskmill.provider.context import Context
from taskmill.provider.results import Outcome, handler_outcome
from taskmill.provider.staging import Staging

from taskmill.api.task import Task
from taskmill.files.stores import Stores, parse_stores
from tests.builders import make_task
from tests.unit.provider.executors import Returns

STORES = parse_stores({"stores": {"main": {"endpoint": "http://127.0.0.1:1", "bucket": "b"}}})


def task(files: dict[str, object] | None = None) -> Task:
    builder = make_task("t-0", "cap").meta(namespace="ns").spec(index=0)
    if files is not None:
        builder = builder.spec(files=files)
    return Task.model_validate(builder.obj())


def execute(staging: Staging, t: Task, tmp_path: Path) -> Outcome:
    async def main() -> Outcome:
        ctx = Context(t, kill_grace_seconds=1, workdir=tmp_path)
        return await staging.execute(t, ctx)

    try:
        return asyncio.run(main())
    finally:
        staging.close()


def test_a_task_without_files_runs_as_before(tmp_path: Path) -> None:
    inner = Returns(handler_outcome({"ok": 1}))
    assert execute(Staging(inner, None), task(), tmp_path) == inner.outcome


@pytest.mark.parametrize(
    ("stores", "store", "message"),
    [
        (None, "", "this provider has no stores file (--stores)"),
        (STORES, "archive", "object store 'archive' is not configured on this provider"),
    ],
)
def test_a_store_the_provider_lacks_fails_the_attempt_before_the_work(
    tmp_path: Path, stores: object, store: str, message: str
) -> None:
    inner = Returns(error=AssertionError("the work must not run"))
    outcome = execute(
        Staging(inner, STORES if stores else None),
        task({"store": store, "inputs": [{"source": "k", "path": "k"}]}),
        tmp_path,
    )
    assert (outcome.succeeded, outcome.reason, not outcome.retry) == (
        False,
        "StoreNotConfigured",
        False,
    )
    assert message in outcome.result.message


def test_without_a_store_an_oversized_result_still_fails(tmp_path: Path) -> None:
    inner = Returns(handler_outcome("x" * 5000))
    outcome = execute(Staging(inner, None), task(), tmp_path)
    assert (outcome.succeeded, outcome.reason) == (False, "ResultTooLarge")
    assert outcome.oversized is not None


def unreachable(tmp_path: Path) -> Stores:
    """A store with credentials on port 1 of loopback: the connection is refused at once."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "accessKeyId").write_text("k")
    (creds / "secretAccessKey").write_text("s")
    store = {"endpoint": "http://127.0.0.1:1", "bucket": "b", "credentials": "creds"}
    return parse_stores({"stores": {"main": store}}, base=tmp_path)


def test_an_unreachable_store_fails_the_attempt_naming_the_object_and_store(
    tmp_path: Path,
) -> None:
    inner = Returns(error=AssertionError("the work must not run"))
    work = tmp_path / "work"
    work.mkdir()
    outcome = execute(
        Staging(inner, unreachable(tmp_path)),
        task({"inputs": [{"source": "in/a.bin", "path": "a"}]}),
        work,
    )
    assert (outcome.succeeded, outcome.reason, not outcome.retry) == (
        False,
        "StoreUnreachable",
        False,
    )
    assert "s3://b/in/a.bin in store 'main' (http://127.0.0.1:1)" in outcome.result.message
    assert list(work.iterdir()) == []


class WritesOutput:
    """Work that writes its output and ends as told."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.ended_before_return: bool | None = None

    async def execute(self, task: Task, ctx: Context) -> Outcome:
        (ctx.workdir / "out.txt").write_text("x")
        self.ended_before_return = ctx.work_ended
        return self.outcome


@pytest.mark.parametrize(
    ("outcome", "ended"),
    [(handler_outcome({"ok": 1}), True), (Outcome(False, handler_outcome("no").result), False)],
)
def test_the_slot_is_given_back_when_outputs_start_moving(
    tmp_path: Path, outcome: Outcome, ended: bool
) -> None:
    """Work that succeeded gives back its slot before its outputs upload (and an upload
    that fails still fails the attempt); work that failed uploads nothing, and the
    keeper gives the slot back once the executor returns."""
    inner = WritesOutput(outcome)
    work = tmp_path / "work"
    work.mkdir()
    ended_seen: list[bool] = []

    staging = Staging(inner, unreachable(tmp_path))

    async def main() -> Outcome:
        t = task({"outputs": [{"path": "out.txt"}]})
        ctx = Context(
            t, kill_grace_seconds=1, workdir=work, on_work_ended=lambda: ended_seen.append(True)
        )
        return await staging.execute(t, ctx)

    try:
        result = asyncio.run(main())
    finally:
        staging.close()
    assert inner.ended_before_return is False
    assert (ended_seen == [True]) is ended
    assert not result.succeeded
    if ended:
        assert result.reason == "StoreUnreachable"
