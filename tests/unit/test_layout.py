"""The repository layout that keeps `operator/` from shadowing the standard library.

operator/ and provider/ are mapped into the `taskmill` namespace by setuptools'
package-dir (DESIGN §1). An `__init__.py` in either would make `operator` a regular
package that wins over the stdlib module when Python runs from the repo root.
"""

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPED = {"operator": "taskmill.operator", "provider": "taskmill.provider"}


@pytest.mark.parametrize("directory", sorted(MAPPED))
def test_mapped_directories_have_no_init(directory: str) -> None:
    assert (REPO / directory).is_dir()
    assert not (REPO / directory / "__init__.py").exists()


def test_import_operator_from_the_repo_root_is_the_standard_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import operator, collections; print(operator.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    module = Path(result.stdout.strip()).resolve()
    assert module.parent == Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert REPO not in module.parents


def test_taskmill_operator_imports_from_the_repo() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import taskmill.operator.api as m; print(m.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(result.stdout.strip()).resolve() == REPO / "operator" / "api" / "__init__.py"


def test_every_sub_package_is_listed_in_pyproject() -> None:
    """Auto-discovery does not work with a custom package-dir: unlisted packages are
    silently missing from the wheel (and the image), though present in editable installs."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set(MAPPED.values())
    for directory, package in MAPPED.items():
        for init in (REPO / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / directory)
            found.add(".".join([package, *relative.parts]))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
