"""The REST front end on etcd: what only a real etcd shows (compaction), over HTTPS with the admin certificate."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator

import aiohttp
import etcd3
import pytest_asyncio

from podlab.pki import ClusterPki
from tests.integration.conftest import wipe
from tests.support.procs import ControlPlane, Etcd

PODS = "/api/v1/namespaces/default/pods"


@pytest_asyncio.fixture
async def rest(etcd: Etcd, control_plane: ControlPlane) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    wipe(etcd.endpoint)
    pki = ClusterPki(control_plane.pki_dir)
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield http, control_plane.https_url
    wipe(etcd.endpoint)


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_watch_from_a_compacted_revision_is_410_expired(rest, etcd: Etcd) -> None:
    http, url = rest
    first = await (await http.post(url + PODS, json=_pod("a"))).json()
    for name in ("b", "c"):
        await http.post(url + PODS, json=_pod(name))
    last = await (await http.get(url + PODS)).json()
    host, port = etcd.endpoint.removeprefix("http://").split(":")
    client = etcd3.client(host=host, port=int(port))
    try:
        client.compact(int(last["metadata"]["resourceVersion"]))
    finally:
        client.close()
    reply = await http.get(url + PODS, params={"watch": "true",
                                               "resourceVersion": first["metadata"]["resourceVersion"]})
    if reply.status == 200:  # etcd answered after the headers went out: an ERROR event, as Kubernetes' watch cache
        event = json.loads(await reply.content.readline())
        assert event["type"] == "ERROR"
        status = event["object"]
    else:
        assert reply.status == 410
        status = await reply.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Expired", 410)
    listed = await (await http.get(url + PODS)).json()
    assert sorted(p["metadata"]["name"] for p in listed["items"]) == ["a", "b", "c"]
