"""The integration tier: a real etcd on a free port and a real control plane process."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import etcd3
import pytest
import pytest_asyncio

from podlab.client import Client
from podlab.pki import ClusterPki
from tests.support.cluster import LocalCluster, all_nodes_ready
from tests.support.procs import ControlPlane, Etcd


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
    """One API server for the session's API tests.

    Without controllers: it shares etcd with the clusters other tests start, and
    its controllers would compete for their lease and act on their nodes.
    """
    cp = ControlPlane(etcd.endpoint, "--no-controllers")
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

    def _etcd(self) -> etcd3.Etcd3Client:
        host, port = self.etcd.endpoint.removeprefix("http://").split(":")
        return etcd3.client(host=host, port=int(port))

    async def compact(self, revision: int) -> None:
        raw = self._etcd()
        try:
            raw.compact(revision)
        finally:
            raw.close()

    async def lease_of(self, key: bytes) -> int:
        """The etcd lease `key` is attached to (0: none)."""
        raw = self._etcd()
        try:
            _, meta = raw.get(key)
            return int(meta.lease_id) if meta is not None else 0
        finally:
            raw.close()


@pytest_asyncio.fixture
async def rest(etcd: Etcd, control_plane: ControlPlane) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """An HTTPS session with the admin certificate, and the session control plane's URL; etcd wiped around it."""
    wipe(etcd.endpoint)
    pki = ClusterPki(control_plane.pki_dir)
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield http, control_plane.https_url
    wipe(etcd.endpoint)


@pytest_asyncio.fixture
async def cluster(etcd: Etcd, control_plane: ControlPlane) -> AsyncIterator[Cluster]:
    wipe(etcd.endpoint)
    client = Client(control_plane.address)
    try:
        yield Cluster(etcd, control_plane, client)
    finally:
        await client.close()


# Node-loss timing for local clusters: node_grace + pod_eviction_timeout = 4 s, and
# agents fence after 3 s without a heartbeat (strictly less, as DESIGN.md asks).
NODE_GRACE, EVICTION, FENCE = 2, 2, 3
AGENT_FLAGS = ("--heartbeat", "0.5", "--fence-timeout", str(FENCE))


@pytest_asyncio.fixture
async def make_cluster(etcd: Etcd) -> AsyncIterator:
    """A factory for LocalClusters (sim runtime) with their clients; everything stopped after the test."""
    started: list[LocalCluster] = []
    clients: list[Client] = []

    async def make(nodes: int = 3, *flags: str, agent_flags: tuple[str, ...] = ()) -> tuple[LocalCluster, Client]:
        wipe(etcd.endpoint)
        cluster = LocalCluster(etcd, nodes=nodes, runtime="sim", agent_flags=AGENT_FLAGS + agent_flags,
                               control_plane_flags=("--node-grace", str(NODE_GRACE),
                                                    "--pod-eviction-timeout", str(EVICTION), *flags))
        started.append(cluster)
        client = Client(cluster.server_address)
        clients.append(client)
        await all_nodes_ready(client, nodes)
        return cluster, client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
        for cluster in started:
            cluster.stop()
