"""Integration fixtures: a real control plane per pytest session (see tests/harness).

    cluster    session: Cluster (.kubeconfig, .server, .env, .bin_dir, .kubectl(), .metrics())
    control_plane  session: the harness's ControlPlane (.paused(component)); skips the
               test against an existing cluster
    crds       session: crds/*.yaml applied server-side and Established; their names.
               The garbage collector notices new kinds at its next 30 s discovery
               sync, so collecting children of a custom resource can lag that long.
    namespace  function: a fresh namespace, deleted after the test
    providers  function: starts providers and operators in it (tests/integration/provider/kit)
    object_store  session: a real S3-compatible store (SeaweedFS) on loopback with its
               own credentials (tests/harness/objectstore.py)

Set TASKMILL_TEST_KUBECONFIG to run against an existing cluster instead (nothing
is started), TASKMILL_KEEP_STATE=1 to keep the session's state dir (logs, etcd).
Each session gets its own state dir under the temp dir, never the repo's
.taskmill/, so `make cluster` and several test sessions can run side by side.
"""

import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from tests.harness import Binaries, Cluster, ControlPlane
from tests.harness.objectstore import ObjectStore
from tests.harness.scratch import session_state_dir
from tests.harness.versions import REPO_ROOT
from tests.integration.provider.kit import Providers, providers_for

INTEGRATION_DIR = Path(__file__).resolve().parent
CRD_DIR = REPO_ROOT / "crds"
PLANE = pytest.StashKey[ControlPlane]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


def _uncaptured(config: pytest.Config) -> AbstractContextManager[object]:
    """Let build progress and the startup time reach the terminal."""
    capture = config.pluginmanager.getplugin("capturemanager")
    return capture.global_and_fixture_disabled() if capture else nullcontext()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    binaries = Binaries.locate()
    existing = os.environ.get("TASKMILL_TEST_KUBECONFIG")
    if existing:
        yield Cluster.existing(Path(existing), binaries.kube_dir)
        return
    with _uncaptured(request.config):
        binaries.ensure()
    with session_state_dir(keep=bool(os.environ.get("TASKMILL_KEEP_STATE"))) as state_dir:
        started = time.monotonic()
        plane = ControlPlane(state_dir, binaries, die_with_parent=True)
        with plane as plane_cluster:
            request.config.stash[PLANE] = plane
            with _uncaptured(request.config):
                print(
                    f"\n[harness] control plane up in {time.monotonic() - started:.1f}s"
                    f" at {plane_cluster.server} (state: {state_dir})",
                    file=sys.stderr,
                )
            yield plane_cluster


@pytest.fixture(scope="session")
def control_plane(cluster: Cluster, request: pytest.FixtureRequest) -> ControlPlane:
    plane = request.config.stash.get(PLANE, None)
    if plane is None:
        pytest.skip("needs the harness's own control plane (not TASKMILL_TEST_KUBECONFIG)")
    return plane


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> list[str]:
    return cluster.apply_crds(sorted(CRD_DIR.glob("*.yaml")))


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].rstrip("-")
    return f"{slug or 'test'}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = _namespace_name(request.node.name)
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/created-by": "taskmill-tests"}},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    yield name
    # Not waiting: the namespace controller empties and removes it in the background.
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def providers(
    cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[Providers]:
    """Provider (and operator) processes for one test, all stopped after it."""
    with providers_for(cluster, namespace, tmp_path) as started:
        yield started


@pytest.fixture(scope="session")
def object_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObjectStore]:
    binaries = Binaries.locate()
    with _uncaptured(request.config):
        binaries.ensure(("seaweedfs",))
    with ObjectStore(tmp_path_factory.mktemp("objectstore"), binaries=binaries) as store:
        yield store
