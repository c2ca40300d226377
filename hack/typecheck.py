"""Run mypy --strict and the import-linter contracts over the taskmill packages.

operator/ and provider/ are mapped into the taskmill namespace by setuptools'
package-dir, which neither mypy nor import-linter can follow; a tree of symlinks
under build/ shows them the installed layout without touching the sources.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"
# Sub-package of taskmill -> the directory that holds it in the repository.
SOURCES = {
    "api": ROOT / "taskmill" / "api",
    "kube": ROOT / "taskmill" / "kube",
    "operator": ROOT / "operator",
    "provider": ROOT / "provider",
}


def main() -> int:
    pkg = TREE / "taskmill"
    pkg.mkdir(parents=True, exist_ok=True)
    for name, source in SOURCES.items():
        link = pkg / name
        if not link.is_symlink():
            link.symlink_to(source, target_is_directory=True)
    files = sorted(
        os.path.relpath(os.path.join(d, f), TREE)
        for d, _, names in os.walk(pkg, followlinks=True)
        for f in names
        if f.endswith(".py")
    )
    env = {"MYPYPATH": ".", "PYTHONPATH": ".", "PATH": "/usr/bin:/bin"}
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *files]
    contracts = [
        str(Path(sys.executable).with_name("lint-imports")),
        str(ROOT / "pyproject.toml"),
    ]
    return subprocess.call(mypy, cwd=TREE, env=env) or subprocess.call(contracts, cwd=TREE, env=env)


if __name__ == "__main__":
    sys.exit(main())
