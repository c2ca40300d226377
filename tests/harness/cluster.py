"""A client's view of a cluster: kubeconfig, kubectl and raw API reads.

The same class serves the harness's own control plane and an existing cluster
(TASKMILL_TEST_KUBECONFIG), so tests cannot tell them apart.
"""

import functools
import os
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from taskmill.kube.config import Connection, load_connection

KUBECTL_TIMEOUT = 120.0


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr.strip()}"


@dataclass
class Cluster:
    kubeconfig: Path
    bin_dir: Path
    env: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        path = os.pathsep.join([str(self.bin_dir), os.environ.get("PATH", "")])
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    @classmethod
    def existing(cls, kubeconfig: Path, bin_dir: Path) -> "Cluster":
        """A cluster someone else runs; kubectl from `bin_dir`, else from PATH."""
        if not (bin_dir / "kubectl").exists():
            found = shutil.which("kubectl")
            if found is None:
                raise RuntimeError(f"no kubectl in {bin_dir} or on PATH")
            bin_dir = Path(found).parent
        return cls(kubeconfig=kubeconfig, bin_dir=bin_dir)

    @functools.cached_property
    def _connection(self) -> Connection:
        return load_connection(str(self.kubeconfig))

    @property
    def server(self) -> str:
        return self._connection.server

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> "subprocess.CompletedProcess[str]":
        cmd = [str(self.bin_dir / "kubectl"), *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, env=self.env, timeout=KUBECTL_TIMEOUT
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def get(self, path: str, timeout: float = 10.0) -> str:
        """GET a raw API path (e.g. /readyz); raises urllib.error.HTTPError on non-2xx."""
        conn = self._connection
        request = urllib.request.Request(conn.server + path)
        authorization = conn.authorization()
        if authorization:
            request.add_header("Authorization", authorization)
        context = conn.ssl_context if isinstance(conn.ssl_context, ssl.SSLContext) else None
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body: bytes = response.read()
        return body.decode()

    def metrics(self) -> str:
        """The apiserver's Prometheus text (parse it with tests.harness.metrics)."""
        return self.get("/metrics")

    def apply_crds(self, paths: Iterable[Path], timeout: float = 60.0) -> list[str]:
        """Server-side apply CRD files and wait until each is Established; returns their names."""
        files = [arg for path in paths for arg in ("-f", str(path))]
        if not files:
            return []
        applied = self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=taskmill-tests",
            "-o",
            "name",
            *files,
        )
        names = applied.stdout.split()
        self.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *names)
        return names
