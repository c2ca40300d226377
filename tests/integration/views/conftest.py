"""A namespace with one workload in each interesting state, for the views' tests.

No operator and no providers: BatchJobs keep their CRD-defaulted status (Waiting), a
suspended one is OnHold, a Task waits with no provider to serve it (a backlog alert),
and batch/v1 Jobs are driven by the real job controller with the test as kubelet.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests.builders import make_batchjob, make_task
from tests.harness import Cluster
from tests.harness.polling import wait_for
from tests.integration.status.kit import finish_pods, job_manifest, survey_as, values

PLUGIN_BIN = Path(sys.executable).parent  # where pip put kubectl-taskmill


@dataclass(frozen=True)
class Estate:
    cluster: Cluster
    namespace: str

    @property
    def env(self) -> dict[str, str]:
        """The cluster's environment, with kubectl-taskmill on PATH for kubectl to find."""
        return {**self.cluster.env, "PATH": f"{PLUGIN_BIN}{os.pathsep}{self.cluster.env['PATH']}"}

    def plugin(self, *args: str, user: str = "") -> "subprocess.CompletedProcess[str]":
        """`kubectl taskmill ARGS` through the real kubectl's plugin lookup."""
        who = ["--as", user] if user else []
        return subprocess.run(
            [str(self.cluster.bin_dir / "kubectl"), "taskmill", *args, *who],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    @contextmanager
    def running(self, *args: str) -> Iterator[IO[str]]:
        """`kubectl taskmill ARGS` left running (ui, status -w); yields its output, and
        stops it after."""
        proc = subprocess.Popen(
            [str(self.cluster.bin_dir / "kubectl"), "taskmill", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        try:
            assert proc.stdout is not None
            yield proc.stdout
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    @contextmanager
    def ui(self, *args: str) -> Iterator[str]:
        """`kubectl taskmill ui -n NS --port 0 ARGS`; yields its URL."""
        with self.running("ui", "-n", self.namespace, "--port", "0", *args) as output:
            line = output.readline()  # "taskmill UI at http://127.0.0.1:PORT/ (...)"
            assert line.startswith("taskmill UI at http://127.0.0.1:"), line
            yield line.split()[3]

    def json(self, *args: str) -> dict[str, object]:
        done = self.plugin(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        loaded: dict[str, object] = json.loads(done.stdout)
        return loaded


@pytest.fixture(scope="module")
def estate(cluster: Cluster, crds: list[str], request: pytest.FixtureRequest) -> Iterator[Estate]:
    """One namespace per test module (views-<module>), so modules never share state."""
    namespace = "views-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true")
    cluster.kubectl("create", "namespace", namespace)
    objects = [
        make_batchjob("resize", "image.resize").namespace(namespace).range(end=3).obj(),
        make_batchjob("paused", "image.resize")
        .namespace(namespace)
        .range(end=2)
        .spec(suspend=True)
        .obj(),
        make_task("resize-0", "image.resize", "resize").namespace(namespace).obj(),
    ]
    cluster.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )
    for name in ("etl", "broken"):
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=job_manifest(name))
    wait_for(
        lambda: finish_pods(cluster, namespace, "broken", "Failed"),
        timeout=60,
        what="the broken Job's pod",
    )
    wait_for(
        lambda: (
            values(survey_as(cluster, namespace), "Job") == {"etl": "Running", "broken": "Failure"}
        ),
        timeout=60,
        what="the Jobs to settle",
    )
    yield Estate(cluster, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
