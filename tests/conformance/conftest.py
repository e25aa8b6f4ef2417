"""The conformance tier: Kubernetes' node e2e behaviours against a real cluster on Docker.

One cluster (etcd, control plane, scheduler, one node agent on Docker) serves the
whole tier; each test gets a `Framework` with a namespace of its own, emptied
when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from podlab.client import Client
from tests.conformance._framework import Framework
from tests.support.cluster import all_nodes_ready
from tests.support.dockerkit import DockerKit, docker_cluster


@pytest.fixture(scope="package")
def conformance_cluster(etcd: Any, docker_kit: DockerKit) -> Iterator[Any]:
    # A 10 s resync: updated ConfigMaps and Secrets show in volumes within it (the kubelet: ~1 min).
    cluster = docker_cluster(etcd, docker_kit, "conf", nodes=1, agent_flags=("--resync-period", "10"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest_asyncio.fixture
async def f(conformance_cluster: Any, request: pytest.FixtureRequest) -> AsyncIterator[Framework]:
    """Upstream's framework.NewDefaultFramework: a client and a fresh namespace."""
    async with Client(conformance_cluster.server_address) as client:
        await all_nodes_ready(client, 1, timeout=30)
        base = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
        fw = Framework(client, base)
        await fw.setup()
        try:
            yield fw
        finally:
            await fw.teardown()
