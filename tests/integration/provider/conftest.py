from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
from tests.integration.provider.kit import Providers, providers_for


@pytest.fixture
def providers(
    cluster: Cluster, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[Providers]:
    with providers_for(cluster, namespace, tmp_path) as started:
        yield started
