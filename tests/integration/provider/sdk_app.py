"""An SDK provider for the integration tests: `python -m tests.integration.provider.sdk_app`."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from taskmill.provider.context import Context
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


@provider.handler("sdk.sum")
async def total(params: dict[str, Any], ctx: Context) -> Any:
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


if __name__ == "__main__":
    provider.run()
