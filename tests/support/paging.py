"""One list read in pages while the world changes, as the unit tier (memory store) and the integration
tier (etcd) both check it: every page reads the first page's state, and a compacted one expires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from controlplane.rest.paging import EXPIRED

PODS = "/api/v1/namespaces/default/pods"


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _names(body: dict[str, Any]) -> list[str]:
    return [p["metadata"]["name"] for p in body["items"]]


async def check_pages_read_one_state(http: Any, base: str, compact: Callable[[int], Awaitable[None]]) -> None:
    """`http` is an aiohttp client session (or test client) and `base` the server's URL ("" for a test
    client); `compact(revision)` compacts the store the server reads."""
    pods = base + PODS
    for name in ("a", "b", "c"):
        assert (await http.post(pods, json=_pod(name))).status == 201
    first = await (await http.get(pods, params={"limit": "2"})).json()
    assert _names(first) == ["a", "b"] and first["metadata"]["remainingItemCount"] == 1
    token = first["metadata"]["continue"]
    # Between the pages, one pod comes that sorts after the first page, and the last one goes.
    assert (await http.post(pods, json=_pod("bb"))).status == 201
    assert (await http.delete(f"{pods}/c", json={"gracePeriodSeconds": 0})).status == 200
    rest = await (await http.get(pods, params={"limit": "2", "continue": token})).json()
    assert _names(rest) == ["c"] and "continue" not in rest["metadata"]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    now = await (await http.get(pods)).json()
    assert _names(now) == ["a", "b", "bb"]
    both = await http.get(pods, params={"continue": token, "resourceVersion": "1"})
    assert both.status == 400
    assert (await both.json())["message"] == "specifying resource version is not allowed when using continue"
    assert (await http.get(pods, params={"continue": "garbage"})).status == 400
    await compact(int(now["metadata"]["resourceVersion"]))
    expired = await http.get(pods, params={"limit": "2", "continue": token})
    status = await expired.json()
    assert (expired.status, status["reason"], status["message"]) == (410, "Expired", EXPIRED)
