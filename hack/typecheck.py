"""Run mypy --strict over the taskmill packages.

operator/ and provider/ are mapped into the taskmill namespace by setuptools'
package-dir, which mypy cannot follow; a tree of symlinks under build/ shows mypy
the installed layout without touching the sources.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def main() -> int:
    pkg = TREE / "taskmill"
    pkg.mkdir(parents=True, exist_ok=True)
    for name in ("operator", "provider"):
        link = pkg / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    files = sorted(
        os.path.relpath(os.path.join(d, f), TREE)
        for d, _, names in os.walk(pkg, followlinks=True)
        for f in names
        if f.endswith(".py")
    )
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *files]
    return subprocess.call(cmd, cwd=TREE, env={"MYPYPATH": ".", "PATH": "/usr/bin:/bin"})


if __name__ == "__main__":
    sys.exit(main())
