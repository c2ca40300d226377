"""The repository layout that keeps `operator/` from shadowing the standard library.

operator/ and provider/ are mapped into the `taskmill` namespace by setuptools'
package-dir (DESIGN §1). An `__init__.py` in either would make `operator` a regular
package that wins over the stdlib module when Python runs from the repo root. The shared
core, taskmill/, is a namespace portion too: an `__init__.py` there would make `taskmill`
a regular package whose `__path__` hides the two mapped components.
"""

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPED = {
    "operator": "taskmill.operator",
    "provider": "taskmill.provider",
    "taskmill": "taskmill",
}


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


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("taskmill.api", "taskmill/api/__init__.py"),
        ("taskmill.kube", "taskmill/kube/__init__.py"),
        ("taskmill.operator.reconciler", "operator/reconciler.py"),
        ("taskmill.provider.agent", "provider/agent.py"),
    ],
)
def test_each_room_imports_from_its_directory(module: str, source: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; print(m.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(result.stdout.strip()).resolve() == REPO / source


def test_every_sub_package_is_listed_in_pyproject() -> None:
    """Auto-discovery does not work with a custom package-dir: unlisted packages are
    silently missing from the wheel (and the image), though present in editable installs."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set(MAPPED.values()) - {"taskmill"}
    for directory, package in MAPPED.items():
        for init in (REPO / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / directory)
            found.add(".".join([package, *relative.parts]))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_provider_loads_no_operator_module() -> None:
    """import-linter checks the imports as written; this checks what a provider process
    really loads, lazy imports included."""
    code = (
        "import sys, taskmill.provider.__main__, taskmill.provider.sdk\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('taskmill.operator'))\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_licence_file_matches_pyproject() -> None:
    assert (
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    )
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
