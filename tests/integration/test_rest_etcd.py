"""The REST front end on etcd: what only a real etcd shows (compaction), over HTTPS with the admin certificate."""

from __future__ import annotations

import json

import etcd3

from tests.support.paging import check_pages_read_one_state
from tests.support.procs import Etcd

PODS = "/api/v1/namespaces/default/pods"


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


async def test_list_pages_read_the_first_pages_state_until_etcd_compacts_it(rest, etcd: Etcd) -> None:
    http, url = rest

    async def compact(revision: int) -> None:
        host, port = etcd.endpoint.removeprefix("http://").split(":")
        client = etcd3.client(host=host, port=int(port))
        try:
            client.compact(revision)
        finally:
            client.close()

    await check_pages_read_one_state(http, url, compact)
