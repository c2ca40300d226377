"""A command for the taskmill command provider: the SHA-256 of the files a task names.

    python -m taskmill.provider --capability demo.sha256 --concurrency 4 \\
        --command python3 examples/providers/sha256_files.py

The provider runs it once per leased task, with the task's params as JSON on stdin.
It expects a BatchJob that fans out over a `range`, with shared params:

    path:    a file name with an `{index}` placeholder, e.g. input/doc-{index:03d}.txt,
             relative to the provider's working directory
    output:  optional directory to also write `<file name>.sha256` into

and the `index` (or, with batchSize > 1, the `indexes`) the range gives each task.
It prints `sha256sum`-style lines, which the provider keeps as the Task's
result.output. Any error (a missing file, say) exits non-zero, which fails the
attempt; the job's retry.maxAttempts decides whether it is tried again.

Only the standard library is needed: copy it anywhere with a Python 3.11+.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def file_names(params: dict[str, Any]) -> list[str]:
    indexes = params["indexes"] if "indexes" in params else [params["index"]]
    return [params["path"].format(index=index) for index in indexes]


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> None:
    params = json.load(sys.stdin)
    output = Path(params["output"]) if params.get("output") else None
    if output:
        output.mkdir(parents=True, exist_ok=True)
    for name in file_names(params):
        line = f"{sha256(Path(name))}  {name}\n"
        sys.stdout.write(line)
        if output:
            (output / f"{Path(name).name}.sha256").write_text(line)


if __name__ == "__main__":
    main()
