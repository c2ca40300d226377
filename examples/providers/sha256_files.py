"""A command for the taskmill command provider: the SHA-256 of the files a task is given.

    python -m taskmill.provider --capability demo.sha256 --concurrency 4 \\
        --stores stores.yaml --command python3 examples/providers/sha256_files.py

The provider runs it once per leased task, in the task's working directory, with the
task's params as JSON on stdin. It expects a BatchJob whose `items` are object keys,
staged by `spec.files.itemInput` with the path input/{position}/{name}, and the param

    output:  optional file to also write the lines into (declare it in spec.files.outputs
             for the provider to upload it)

It prints `sha256sum`-style lines naming each item's object key, which the provider
keeps as the Task's result.output. Any error (a missing file, say) exits non-zero,
which fails the attempt; the job's retry.maxAttempts decides whether it is tried again.

Only the standard library is needed: copy it anywhere with a Python 3.11+.
"""

import hashlib
import json
import sys
from pathlib import Path, PurePosixPath
from typing import Any


def staged(params: dict[str, Any]) -> list[tuple[str, Path]]:
    """(object key, staged file) for each item of the task, in order."""
    keys = params["items"] if "items" in params else [params["item"]]
    return [(key, Path("input", str(p), PurePosixPath(key).name)) for p, key in enumerate(keys)]


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> None:
    params = json.load(sys.stdin)
    lines = "".join(f"{sha256(path)}  {key}\n" for key, path in staged(params))
    sys.stdout.write(lines)
    if params.get("output"):
        Path(params["output"]).write_text(lines)


if __name__ == "__main__":
    main()
