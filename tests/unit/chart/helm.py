"""Run the pinned helm binary on charts/taskmill and parse what it renders."""

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.versions import REPO_ROOT, Binaries, pinned_versions

CHART = REPO_ROOT / "charts" / "taskmill"
# The API server version the chart is rendered for: the one the harness runs.
KUBE_VERSION = pinned_versions()["K8S_VERSION"]

Manifest = dict[str, Any]


def helm_binary() -> Path:
    """The pinned helm; skips the calling test when it has not been built."""
    helm = Binaries.locate().helm
    if not os.access(helm, os.X_OK):
        pytest.skip(f"helm not built at {helm}: run `make binaries` (hack/build-control-plane.sh)")
    return helm


def helm(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm; the caller checks returncode (failures are what some tests expect)."""
    return subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@contextmanager
def values_file(values: Mapping[str, Any]) -> Iterator[Path]:
    """A values file holding `values` (JSON is YAML), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="taskmill-values-") as tmp:
        path = Path(tmp) / "values.json"
        path.write_text(json.dumps(values))
        yield path


def template(
    values: Mapping[str, Any] | None = None,
    *,
    chart: Path = CHART,
    namespace: str = "taskmill",
    release: str = "tm",
    kube_version: str = KUBE_VERSION,
) -> subprocess.CompletedProcess[str]:
    with values_file(values or {}) as path:
        return helm(
            *("template", release, str(chart), "--namespace", namespace),
            *("--kube-version", kube_version, "--values", str(path)),
        )


def render(values: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
    """The objects `helm template` renders, in order; fails the test on a render error."""
    done = template(values, **kwargs)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(objects: list[Manifest], kind: str, name_suffix: str = "") -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]


def one(objects: list[Manifest], kind: str, name_suffix: str = "") -> Manifest:
    found = find(objects, kind, name_suffix)
    assert len(found) == 1, f"expected one {kind} named *{name_suffix}, got {len(found)}"
    return found[0]
