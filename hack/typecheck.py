"""Run mypy --strict over the taskmill packages, the tests and the bench, and the
import-linter contracts over the packages.

operator/ and provider/ are mapped into the taskmill namespace by setuptools'
package-dir, which neither mypy nor import-linter can follow; a tree of symlinks
under build/ shows them the installed layout without touching the sources. The tests
and the bench sit beside the package in that tree, as they do beside the installed
package when they run, so they are checked with the same strict config.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"
# Sub-package of taskmill -> the directory that holds it in the repository.
SOURCES = {
    **{d.name: d for d in (ROOT / "taskmill").iterdir() if (d / "__init__.py").exists()},
    "operator": ROOT / "operator",
    "provider": ROOT / "provider",
}
# Top-level packages checked beside taskmill (not by import-linter: nothing imports them).
BESIDE = ("tests", "bench")


def main() -> int:
    pkg = TREE / "taskmill"
    pkg.mkdir(parents=True, exist_ok=True)
    links = {pkg / name: source for name, source in SOURCES.items()}
    links.update({TREE / name: ROOT / name for name in BESIDE})
    for link, source in links.items():
        if not link.is_symlink():
            link.symlink_to(source, target_is_directory=True)
    files = sorted(
        os.path.relpath(os.path.join(d, f), TREE)
        for top in (pkg, *(TREE / name for name in BESIDE))
        for d, dirs, names in os.walk(top, followlinks=True)
        if "__pycache__" not in d
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
