"""Pinned versions (hack/versions.env) and where their binaries live in the cache.

hack/build-control-plane.sh reads the same file, so shell and Python agree on one
set of versions; an environment variable of the same name overrides a pin in both.
"""

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "hack" / "versions.env"
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"

_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines; blank lines and # comments are skipped, values are taken verbatim."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise ValueError(f"line {number}: expected KEY=value, got {raw!r}")
        values[key] = value
    return values


def pinned_versions(
    environ: Mapping[str, str] = os.environ, path: Path = VERSIONS_FILE
) -> dict[str, str]:
    pins = parse_env_file(path.read_text())
    return {key: environ.get(key) or value for key, value in pins.items()}


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("TASKMILL_CACHE") or Path.home() / ".cache" / "taskmill")


@dataclass(frozen=True)
class Binaries:
    kube_dir: Path
    etcd_dir: Path
    helm_dir: Path
    prometheus_dir: Path
    seaweedfs_dir: Path
    node_dir: Path

    @classmethod
    def locate(cls, environ: Mapping[str, str] = os.environ) -> "Binaries":
        versions = pinned_versions(environ)
        bin_root = cache_dir(environ) / "bin"
        return cls(
            kube_dir=bin_root / f"kube-v{versions['K8S_VERSION']}",
            etcd_dir=bin_root / f"etcd-v{versions['ETCD_VERSION']}",
            helm_dir=bin_root / f"helm-v{versions['HELM_VERSION']}",
            prometheus_dir=bin_root / f"prometheus-{versions['PROMETHEUS_VERSION']}",
            seaweedfs_dir=bin_root / f"seaweedfs-v{versions['SEAWEEDFS_VERSION']}",
            node_dir=bin_root / f"kube-v{versions['K8S_VERSION']}-node",
        )

    @property
    def etcd(self) -> Path:
        return self.etcd_dir / "etcd"

    @property
    def kube_apiserver(self) -> Path:
        return self.kube_dir / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.kube_dir / "kube-controller-manager"

    @property
    def kubectl(self) -> Path:
        return self.kube_dir / "kubectl"

    @property
    def kubelet(self) -> Path:
        return self.node_dir / "kubelet"

    @property
    def kube_scheduler(self) -> Path:
        return self.node_dir / "kube-scheduler"

    @property
    def helm(self) -> Path:
        return self.helm_dir / "helm"

    @property
    def prometheus(self) -> Path:
        return self.prometheus_dir / "prometheus"

    @property
    def promtool(self) -> Path:
        return self.prometheus_dir / "promtool"

    @property
    def weed(self) -> Path:
        return self.seaweedfs_dir / "weed"

    def _files(self, component: str) -> tuple[Path, ...]:
        return {
            "kube": (self.kube_apiserver, self.kube_controller_manager, self.kubectl),
            "node": (self.kubelet, self.kube_scheduler),
            "etcd": (self.etcd,),
            "helm": (self.helm,),
            "prometheus": (self.prometheus, self.promtool),
            "seaweedfs": (self.weed,),
        }[component]

    def missing(self, components: Iterable[str]) -> list[str]:
        return [c for c in components if not all(os.access(f, os.X_OK) for f in self._files(c))]

    def ensure(self, components: Iterable[str] = ("kube", "etcd")) -> None:
        """Build missing components with the build script; its progress goes to our stderr."""
        missing = self.missing(components)
        if not missing:
            return
        subprocess.run([str(BUILD_SCRIPT), *missing], check=True, stdout=2)
        still_missing = self.missing(missing)
        if still_missing:
            raise RuntimeError(f"{BUILD_SCRIPT} did not produce: {', '.join(still_missing)}")
