"""The API server's watch cache on the memory store: one store watch per resource, fanned out.

The registry's watch contract itself (resume, selectors, Gone, bookmarks) runs through the cache in
tests/unit/test_registry.py and tests/support/api_contract.py; these prove what the cache adds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from controlplane.api import Api
from controlplane.local import LocalClient
from controlplane.memstore import MemoryStore
from controlplane.registry import ObjectEvent, Registry
from podlab import errors
from podlab.kinds import NODES, PODS, Kind
from podlab.v1 import objects_pb2 as v1
from tests.support.api_contract import make_node, make_pod
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit


@pytest_asyncio.fixture
async def api() -> AsyncIterator[Api]:
    api = Api.build(MemoryStore())
    await api.registry.ensure_namespaces()
    try:
        yield api
    finally:
        await api.close()


async def take(events: AsyncIterator[ObjectEvent], n: int, timeout: float = 5) -> list[ObjectEvent]:
    got: list[ObjectEvent] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.type != "BOOKMARK":
                got.append(event)
            if len(got) == n:
                break
    return got


def names(events: list[ObjectEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object.metadata.name) for e in events if e.object is not None]


async def _watching(api: Api, count: int, kind: Kind) -> None:
    """Until `count` watchers of `kind` follow the cache (their coroutines have started)."""
    cache = api.watch_cache
    assert cache is not None
    await eventually(lambda: cache.watchers(kind) == count, 5, f"{count} watchers of {kind.plural}")


async def _current(registry: Registry) -> str:
    return str((await registry.list(PODS))[1])


async def test_many_watchers_share_one_store_watch_per_resource(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore)
    rv = await _current(api.registry)
    watchers = [api.registry.watch(PODS, resource_version=rv) for _ in range(50)]
    nodes = api.registry.watch(NODES, resource_version=rv)
    firsts = [asyncio.ensure_future(anext(w)) for w in [*watchers, nodes]]
    await _watching(api, 50, PODS)
    await api.registry.create(make_pod("a"))
    await api.registry.create(make_node("n1"))
    events = await asyncio.gather(*firsts)
    assert {e.object.metadata.name for e in events[:-1]} == {"a"}
    assert events[-1].object.metadata.name == "n1"
    assert store.watching == 2  # one for pods, one for nodes, whatever the number of watchers
    assert api.watch_cache is not None and api.watch_cache.watchers(PODS) == 50
    # decoded once: every watcher got the very same event
    assert len({id(e) for e in events[:-1]}) == 1
    for w in [*watchers, nodes]:
        await w.aclose()
    assert api.watch_cache.watchers() == 0


async def test_a_watch_resumes_from_a_cached_revision_without_the_store(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore)
    rv = await _current(api.registry)
    first = api.registry.watch(PODS, resource_version=rv)
    await api.registry.create(make_pod("a"))
    (seen,) = await take(first, 1)
    await first.aclose()
    await api.registry.create(make_pod("b"))
    await api.registry.create(make_pod("c"))
    resumed = api.registry.watch(PODS, resource_version=str(seen.revision))
    assert names(await take(resumed, 2)) == [("ADDED", "b"), ("ADDED", "c")]
    assert store.watching == 1  # served from the window: no store watch of its own
    await resumed.aclose()


async def test_a_compacted_revision_is_gone_even_while_the_window_holds_it(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore)
    rv = await _current(api.registry)
    warm = api.registry.watch(PODS, resource_version=rv)
    await api.registry.create(make_pod("a"))
    await take(warm, 1)
    await api.registry.create(make_pod("b"))
    await store.compact(store.revision)
    with pytest.raises(errors.Gone):
        await anext(api.registry.watch(PODS, resource_version=rv))
    await warm.aclose()


async def test_a_revision_older_than_the_window_is_served_by_a_store_watch(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore) and api.watch_cache is not None
    api.watch_cache.window = 4
    old = await _current(api.registry)
    await api.registry.create(make_pod("first"))
    cached = api.registry.watch(PODS)  # starts the cache after "first"
    pending = asyncio.ensure_future(anext(cached))
    await _watching(api, 1, PODS)
    await api.registry.create(make_pod("p0"))
    assert (await pending).object.metadata.name == "p0"
    for i in range(1, 8):
        await api.registry.create(make_pod(f"p{i}"))
    replay = api.registry.watch(PODS, resource_version=old)
    assert names(await take(replay, 2)) == [("ADDED", "first"), ("ADDED", "p0")]
    assert store.watching == 2  # the cache's and the replay's own
    await replay.aclose()
    await cached.aclose()


async def test_selector_transitions_are_added_modified_and_deleted(api: Api) -> None:
    await api.registry.create(make_node("n1"))
    rv = await _current(api.registry)
    unbound = api.registry.watch(PODS, field_selector="spec.nodeName=", resource_version=rv)
    web = api.registry.watch(PODS, label_selector="app=web", resource_version=rv)
    other_ns = api.registry.watch(PODS, namespace="kube-system", resource_version=rv)
    pod = await api.registry.create(make_pod("mover", app="db"))
    pod.metadata.labels["app"] = "web"
    pod = await api.registry.update(pod)
    await api.pods.bind("default", "mover", pod.metadata.uid, "n1")
    await api.registry.delete(PODS, "mover", "default")
    assert names(await take(unbound, 3)) == [("ADDED", "mover"), ("MODIFIED", "mover"), ("DELETED", "mover")]
    web_events = await take(web, 2)
    assert names(web_events)[:2] == [("ADDED", "mover"), ("MODIFIED", "mover")]
    here = make_pod("here")
    here.metadata.namespace = "kube-system"
    sentinel = await api.registry.create(here)
    (only,) = await take(other_ns, 1)
    assert only.object.metadata.uid == sentinel.metadata.uid
    for w in (unbound, web, other_ns):
        await w.aclose()


async def test_a_slow_watcher_is_ended_without_stalling_the_others(api: Api) -> None:
    assert api.watch_cache is not None
    api.watch_cache.window = 4
    rv = await _current(api.registry)
    slow = api.registry.watch(PODS, resource_version=rv)
    fast = api.registry.watch(PODS, resource_version=rv)
    got: list[str] = []

    async def follow() -> None:
        async for event in fast:
            got.append(event.object.metadata.name)
            if len(got) == 20:
                return

    following = asyncio.create_task(follow())
    await _watching(api, 1, PODS)
    assert (await asyncio.gather(anext(slow), api.registry.create(make_pod("p0"))))[0].object.metadata.name == "p0"
    for i in range(1, 20):
        await api.registry.create(make_pod(f"p{i}"))
        await asyncio.sleep(0)  # a turn of the loop, in which the fast watcher reads (the slow one never does)
    await asyncio.wait_for(following, 5)
    assert got == [f"p{i}" for i in range(20)]
    # the slow one never read while 19 changes went by: it ends, cleanly, for its client to re-watch
    rest = [e async for e in slow]
    assert len(rest) < 19
    await fast.aclose()


async def test_close_ends_every_watcher_and_the_store_watch(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore) and api.watch_cache is not None
    watch = api.registry.watch(PODS)
    pending = asyncio.ensure_future(anext(watch))
    await eventually(lambda: store.watching == 1, 5, "the cache's store watch")
    await api.watch_cache.close()
    with pytest.raises(errors.Unavailable):
        await pending
    assert store.watching == 0 and api.watch_cache.store_watches() == 0


async def test_a_broken_store_watch_ends_every_watcher_and_the_next_watch_starts_afresh(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore)
    watch = api.registry.watch(PODS)
    pending = asyncio.ensure_future(anext(watch))
    await eventually(lambda: store.watching == 1, 5, "the cache's store watch")
    store.break_watches()
    with pytest.raises(errors.Unavailable):
        await pending
    again = api.registry.watch(PODS)
    pending = asyncio.ensure_future(anext(again))
    await eventually(lambda: store.watching == 1, 5, "a fresh store watch")
    await api.registry.create(make_pod("after"))
    assert (await asyncio.wait_for(pending, 5)).object.metadata.name == "after"
    assert store.watching == 1
    await again.aclose()


async def test_lists_at_a_resource_version_come_from_the_cache(api: Api) -> None:
    store = api.store
    assert isinstance(store, MemoryStore)
    await api.registry.create(make_pod("a"))
    listed, rv0 = await api.registry.list(PODS, resource_version="0")
    assert [p.metadata.name for p in listed] == ["a"]
    await api.registry.create(make_pod("c"))
    b = await api.registry.create(make_pod("b"))
    cache = api.watch_cache
    assert cache is not None
    await eventually(lambda: cache.revision(PODS) >= int(b.metadata.resource_version), 5, "the cache to follow")
    latest, rv = await api.registry.list(PODS, resource_version="0")
    assert [p.metadata.name for p in latest] == ["a", "b", "c"] and rv == int(b.metadata.resource_version)
    then, at = await api.registry.list(PODS, resource_version=str(rv0), resource_version_match="Exact")
    assert [p.metadata.name for p in then] == ["a"] and at == rv0
    labelled, _ = await api.registry.list(PODS, label_selector="app=nothing", resource_version="0")
    assert labelled == []
    # nothing in memory changed what the store says
    assert [p.metadata.name for p in (await api.registry.list(PODS))[0]] == ["a", "b", "c"]
    with pytest.raises(errors.BadRequest):
        await api.registry.list(PODS, resource_version="x")


async def test_a_dry_run_never_shows_in_a_watch(api: Api) -> None:
    rv = await _current(api.registry)
    watch = api.registry.watch(PODS, resource_version=rv)
    await api.dry_run.registry.create(make_pod("imagined"))
    await api.registry.create(make_pod("real"))
    assert names(await take(watch, 1)) == [("ADDED", "real")]
    await watch.aclose()


async def test_a_local_watcher_changing_its_object_changes_nobody_elses(api: Api) -> None:
    client = LocalClient(api)
    rv = await _current(api.registry)
    one = client.watch(v1.Pod, resource_version=rv)
    two = client.watch(v1.Pod, resource_version=rv)
    firsts = asyncio.gather(anext(one), anext(two))
    await _watching(api, 2, PODS)
    await api.registry.create(make_pod("shared"))
    a, b = await firsts
    a.object.metadata.labels["mine"] = "yes"
    assert "mine" not in b.object.metadata.labels
    late = client.watch(v1.Pod, resource_version=rv)
    assert "mine" not in (await anext(late)).object.metadata.labels
    for w in (one, two, late):
        await w.aclose()


async def test_rest_lists_and_watches_at_resource_version_0_come_from_the_cache() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from controlplane.rest import make_app
    from controlplane.testing import InMemoryApi
    from podlab.manifest import to_dict

    fake = InMemoryApi()
    url = "/api/v1/namespaces/default/pods"
    try:
        async with TestClient(TestServer(make_app(fake.api))) as http:
            assert (await http.post(url, json=to_dict(make_pod("a")))).status == 201
            listed = await (await http.get(url, params={"resourceVersion": "0"})).json()
            assert [p["metadata"]["name"] for p in listed["items"]] == ["a"]
            assert fake.api.watch_cache is not None and fake.api.watch_cache.store_watches() == 1
            reply = await http.get(url, params={"watch": "true", "resourceVersion": "0"})
            assert (await reply.content.readline()).startswith(b'{"type":"ADDED"')
            assert fake.store.watching == 1  # the cache's: the watch and the list both came from it
            reply.close()
            exact = await http.get(url, params={"resourceVersion": "1", "resourceVersionMatch": "Exact"})
            assert exact.status == 200  # before the window: etcd (here the memory store) answers
            bad = await http.get(url, params={"resourceVersion": "0", "resourceVersionMatch": "Exact"})
            assert bad.status == 400
    finally:
        await fake.close()
