"""A provider written with the taskmill Python SDK: word counts and a checksum list.

    POD_NAME=stats-1 TASKMILL_STORES=stores.yaml \
        python examples/providers/text_stats.py --namespace NS --concurrency 2

It serves two capabilities, one handler each, working on files the provider stages
from the object store into the task's working directory (ctx.workdir) and uploads
from it afterwards (the BatchJob's spec.files says which; see docs/files.md):

  demo.wordcount   for each item (an object key, staged by itemInput at
                   input/{position}/{name}), writes stats/<file stem>.json with its line
                   and word counts and its five commonest words, reporting progress
                   after every file. Declare `stats/*.json` as the job's output.
  demo.sha256sums  gathers the `*.sha256` files staged under `hashes/` (the outputs of
                   sha256_files.py, an input prefix) into SHA256SUMS, its lines sorted
                   by name. It fails unless there are exactly `expect` lines, so it
                   belongs in a job that `dependsOn` the hashing jobs.

Both handlers are plain functions, so the SDK runs each call in its own thread; they
check ctx.cancelled between files, because work that was told to stop (cancel,
timeout, lost lease, shutdown) has its result discarded anyway. POD_NAME names the
provider (default: the host name); two providers must not share one.
"""

import argparse
import json
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from taskmill.provider.context import Context
from taskmill.provider.sdk import Provider

WORD = re.compile(r"[a-z']+")

parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
parser.add_argument("--namespace", help="namespace of the tasks (default $POD_NAMESPACE)")
parser.add_argument("--concurrency", type=int, default=2, help="tasks run at once")
args = parser.parse_args()
provider = Provider(namespace=args.namespace, concurrency=args.concurrency)


def staged(params: dict[str, Any], workdir: Path) -> list[tuple[str, Path]]:
    """(object key, staged file) for each item of the task, in order."""
    keys = params["items"] if "items" in params else [params["item"]]
    return [
        (key, workdir / "input" / str(p) / PurePosixPath(key).name) for p, key in enumerate(keys)
    ]


def text_stats(text: str) -> dict[str, Any]:
    words = Counter(WORD.findall(text.lower()))
    return {
        "lines": len(text.splitlines()),
        "words": sum(words.values()),
        "top": words.most_common(5),
    }


@provider.handler("demo.wordcount")
def wordcount(params: dict[str, Any], ctx: Context) -> Any:
    files = staged(params, ctx.workdir)
    output = ctx.workdir / "stats"
    output.mkdir()
    words = 0
    for done, (key, path) in enumerate(files, start=1):
        if ctx.cancelled.is_set():
            return None
        stats = {"file": key, **text_stats(path.read_text())}
        (output / f"{path.stem}.json").write_text(json.dumps(stats) + "\n")
        words += stats["words"]
        ctx.progress(100 * done // len(files), f"{done}/{len(files)} files")
    return {"files": len(files), "words": words}


@provider.handler("demo.sha256sums")
def sha256sums(params: dict[str, Any], ctx: Context) -> Any:
    parts = sorted((ctx.workdir / "hashes").glob("*.sha256"))
    lines = sorted(
        (line for part in parts for line in part.read_text().splitlines(keepends=True)),
        key=lambda line: line.split("  ", 1)[1],
    )
    if len(lines) != params["expect"]:
        raise RuntimeError(f"expected {params['expect']} checksums, found {len(lines)}")
    (ctx.workdir / "SHA256SUMS").write_text("".join(lines))
    return f"{len(lines)} checksums in SHA256SUMS, from {len(parts)} files"


if __name__ == "__main__":
    provider.run()
