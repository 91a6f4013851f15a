"""One cluster (three nodes behind nginx, on the shared engines) for the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .engines import Engines, shared_engines
from .harness import Cluster, running_cluster


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    with shared_engines(tmp_path_factory.mktemp("engines")) as found:
        yield found


@pytest.fixture(scope="module")
def whole_cluster(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), engines.env(), 3) as cluster:
        yield cluster


@pytest.fixture
def cluster(whole_cluster: Cluster) -> Cluster:
    """The module's cluster with every node running (a failed test may have left one dead)."""
    whole_cluster.heal()
    return whole_cluster
