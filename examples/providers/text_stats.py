"""A provider written with the taskmill Python SDK: word counts and a checksum list.

    POD_NAME=stats-1 python examples/providers/text_stats.py --namespace NS --concurrency 2

It serves two capabilities, one handler each:

  demo.wordcount   for each file a task names, writes `<output>/<file stem>.json` with
                   its line and word counts and its five commonest words, reporting
                   progress after every file. Params as for sha256_files.py: `path`
                   with an `{index}` placeholder, `index` or `indexes`, and `output`.
  demo.sha256sums  gathers the `*.sha256` files that sha256_files.py wrote into
                   `hashes` and writes them, sorted, to `<hashes>/SHA256SUMS`. It fails
                   unless there are exactly `expect` of them, so it belongs in a job that
                   `dependsOn` the hashing jobs.

Paths are relative to the provider's working directory. Both handlers are plain
functions, so the SDK runs each call in its own thread; they check ctx.cancelled
between files, because work that was told to stop (cancel, timeout, lost lease,
shutdown) has its result discarded anyway. POD_NAME names the provider (default: the
host name); two providers must not share one.
"""

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from taskmill.provider.context import Context
from taskmill.provider.sdk import Provider

WORD = re.compile(r"[a-z']+")

parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
parser.add_argument("--namespace", help="namespace of the tasks (default $POD_NAMESPACE)")
parser.add_argument("--concurrency", type=int, default=2, help="tasks run at once")
args = parser.parse_args()
provider = Provider(namespace=args.namespace, concurrency=args.concurrency)


def file_names(params: dict[str, Any]) -> list[str]:
    indexes = params["indexes"] if "indexes" in params else [params["index"]]
    return [params["path"].format(index=index) for index in indexes]


def text_stats(text: str) -> dict[str, Any]:
    words = Counter(WORD.findall(text.lower()))
    return {
        "lines": len(text.splitlines()),
        "words": sum(words.values()),
        "top": words.most_common(5),
    }


@provider.handler("demo.wordcount")
def wordcount(params: dict[str, Any], ctx: Context) -> Any:
    names = file_names(params)
    output = Path(params["output"])
    output.mkdir(parents=True, exist_ok=True)
    words = 0
    for done, name in enumerate(names, start=1):
        if ctx.cancelled.is_set():
            return None
        stats = {"file": name, **text_stats(Path(name).read_text())}
        (output / f"{Path(name).stem}.json").write_text(json.dumps(stats) + "\n")
        words += stats["words"]
        ctx.progress(100 * done // len(names), f"{done}/{len(names)} files")
    return {"files": len(names), "words": words}


@provider.handler("demo.sha256sums")
def sha256sums(params: dict[str, Any], ctx: Context) -> Any:
    hashes = Path(params["hashes"])
    lines = [path.read_text() for path in sorted(hashes.glob("*.sha256"))]
    if len(lines) != params["expect"]:
        raise RuntimeError(f"expected {params['expect']} checksums in {hashes}, found {len(lines)}")
    (hashes / "SHA256SUMS").write_text("".join(lines))
    return f"{len(lines)} checksums in {hashes / 'SHA256SUMS'}"


if __name__ == "__main__":
    provider.run()
