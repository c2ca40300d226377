"""An SDK provider for the integration tests: `python -m tests.integration.provider.sdk_app`."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from taskmill.provider.context import Context
from taskmill.provider.errors import NonRetryableError, RetryableError
from taskmill.provider.sdk import Provider

parser = argparse.ArgumentParser()
parser.add_argument("--namespace", required=True)
provider = Provider(
    namespace=parser.parse_args().namespace,
    concurrency=2,
    lease_seconds=6,
    grace_seconds=1,
    kill_grace_seconds=2,
)


@provider.setup
def load() -> None:
    print("setup: model loaded", file=sys.stderr, flush=True)


@provider.teardown
async def unload() -> None:
    print("teardown: model unloaded", file=sys.stderr, flush=True)


@provider.handler("sdk.sum")
async def total(params: dict[str, Any], ctx: Context) -> Any:
    ctx.log.info("summing %d numbers", len(params["numbers"]))
    ctx.progress(50, "halfway")
    go = Path(params["go"])
    while not await asyncio.to_thread(go.exists):  # the test's signal to finish
        if ctx.cancelled.is_set():
            return None
        await asyncio.sleep(0.05)
    return {"sum": sum(params["numbers"])}


@provider.handler("sdk.fail")
def fail(params: dict[str, Any], ctx: Context) -> Any:
    raise ValueError(params["why"])


@provider.handler("sdk.exit")
def leave(params: dict[str, Any], ctx: Context) -> Any:
    (ctx.workdir / "scratch").write_text("left behind")
    Path(params["seen"]).write_text(str(ctx.workdir))
    sys.exit(params["code"])  # fails this task only


class Numbers(BaseModel):
    numbers: list[int]


class Info(BaseModel):
    total: int
    attempt: int
    epoch: int
    deadline: str | None


@provider.handler("sdk.typed")
def typed(params: Numbers, ctx: Context) -> Info:
    deadline = None if ctx.deadline is None else ctx.deadline.isoformat()
    return Info(total=sum(params.numbers), attempt=ctx.attempt, epoch=ctx.epoch, deadline=deadline)


@provider.handler("sdk.final")
def final(params: dict[str, Any]) -> Any:
    raise NonRetryableError(f"item {params['key']} does not exist", reason="NoSuchItem")


@provider.handler("sdk.later")
async def later(params: dict[str, Any]) -> Any:
    raise RetryableError("rate limited", delay=params["delay"])


@provider.handler("sdk.nap")
def nap(params: dict[str, Any], ctx: Context) -> Any:
    ctx.log.info("napping")
    ctx.sleep(120)  # raises TaskStopped as soon as the operator cancels the task


if __name__ == "__main__":
    provider.run()
