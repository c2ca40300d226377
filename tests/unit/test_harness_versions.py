import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.versions import BUILD_SCRIPT, Binaries, parse_env_file, pinned_versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB_2=x.y", {"A": "1", "B_2": "x.y"}),
        ("# comment\n\n  K=v  \n", {"K": "v"}),
        ("K=a=b", {"K": "a=b"}),
        ("K=", {"K": ""}),
    ],
)
def test_parse_env_file(text: str, expected: dict[str, str]) -> None:
    assert parse_env_file(text) == expected


@pytest.mark.parametrize("text", ["novalue", "lower=1", "export K=1", "=1"])
def test_parse_env_file_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="line 1"):
        parse_env_file(text)


def test_environment_overrides_a_pin(tmp_path: Path) -> None:
    pins = tmp_path / "versions.env"
    pins.write_text("K8S_VERSION=1.0.0\nETCD_VERSION=3.0.0\n")
    versions = pinned_versions({"K8S_VERSION": "1.2.3", "OTHER": "x"}, pins)
    assert versions == {"K8S_VERSION": "1.2.3", "ETCD_VERSION": "3.0.0"}


def test_binaries_live_in_the_cache_keyed_by_version(tmp_path: Path) -> None:
    environ = {"TASKMILL_CACHE": str(tmp_path), "K8S_VERSION": "1.2.3", "ETCD_VERSION": "3.4.5"}
    binaries = Binaries.locate(environ)
    assert binaries.kube_apiserver == tmp_path / "bin/kube-v1.2.3/kube-apiserver"
    assert binaries.etcd == tmp_path / "bin/etcd-v3.4.5/etcd"
    assert binaries.missing(["kube", "etcd"]) == ["kube", "etcd"]
    _install_fakes(binaries.etcd)
    assert binaries.missing(["kube", "etcd"]) == ["kube"]


def _install_fakes(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)


@pytest.mark.parametrize("override", [{}, {"K8S_VERSION": "9.9.9", "HELM_VERSION": "3.0.1"}])
def test_build_script_reads_the_same_pins(tmp_path: Path, override: dict[str, str]) -> None:
    # The script returns at once for cached binaries and needs Go otherwise (absent from
    # this PATH): it succeeds only if it looks exactly where the harness does.
    environ = {"TASKMILL_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin", **override}
    b = Binaries.locate(environ)
    _install_fakes(b.kube_apiserver, b.kube_controller_manager, b.kubectl, b.etcd, b.helm)
    result = subprocess.run(
        [str(BUILD_SCRIPT), "kube", "etcd", "helm"],
        env={**environ, "HOME": os.environ["HOME"]},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_node_binaries_have_their_own_cache_dir(tmp_path: Path) -> None:
    environ = {"TASKMILL_CACHE": str(tmp_path), "K8S_VERSION": "1.2.3"}
    b = Binaries.locate(environ)
    assert b.kubelet == tmp_path / "bin/kube-v1.2.3-node/kubelet"
    assert b.kube_scheduler == tmp_path / "bin/kube-v1.2.3-node/kube-scheduler"
    # A warm control-plane cache stays valid without them.
    _install_fakes(b.kube_apiserver, b.kube_controller_manager, b.kubectl)
    assert b.missing(["kube", "node"]) == ["node"]
    _install_fakes(b.kubelet, b.kube_scheduler)
    result = subprocess.run(
        [str(BUILD_SCRIPT), "kube", "node"],
        env={**environ, "PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
