"""The staging executor's decisions that need no store: pass-through, unknown stores,
and a result over the inline limit without a store."""

import asyncio
from pathlib import Path

import pytest
from taskmill.provider.context import Context
from taskmill.provider.results import Outcome, handler_outcome
from taskmill.provider.staging import Staging

from taskmill.api.task import Task
from taskmill.files.stores import parse_stores
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


def test_an_unreachable_store_fails_the_attempt_naming_the_object_and_store(
    tmp_path: Path,
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "accessKeyId").write_text("k")
    (creds / "secretAccessKey").write_text("s")
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    stores = parse_stores(
        {
            "stores": {
                "main": {"endpoint": "http://127.0.0.1:1", "bucket": "b", "credentials": "creds"}
            }
        },
        base=tmp_path,
    )
    inner = Returns(error=AssertionError("the work must not run"))
    work = tmp_path / "work"
    work.mkdir()
    outcome = execute(
        Staging(inner, stores), task({"inputs": [{"source": "in/a.bin", "path": "a"}]}), work
    )
    assert (outcome.succeeded, outcome.reason, not outcome.retry) == (
        False,
        "StoreUnreachable",
        False,
    )
    assert "s3://b/in/a.bin in store 'main' (http://127.0.0.1:1)" in outcome.result.message
    assert list(work.iterdir()) == []
