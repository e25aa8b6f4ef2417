"""The watch cache on a real etcd: one etcd watch for many watchers, resume from memory, Gone once compacted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from controlplane.api import Api
from controlplane.etcd import EtcdStore
from podlab import errors
from podlab.kinds import PODS
from tests.integration.conftest import wipe
from tests.support.api_contract import make_pod
from tests.support.procs import Etcd
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


class CountingStore(EtcdStore):
    """An EtcdStore that counts the watches it opens."""

    watches = 0

    def watch(self, prefix: bytes, start_revision: int = 0, progress_every: float = 0.0):  # type: ignore[override]
        self.watches += 1
        return super().watch(prefix, start_revision, progress_every)


@pytest_asyncio.fixture
async def api(etcd: Etcd) -> AsyncIterator[Api]:
    wipe(etcd.endpoint)
    api = Api.build(CountingStore(etcd.endpoint))
    await api.registry.ensure_namespaces()
    try:
        yield api
    finally:
        await api.close()
        wipe(etcd.endpoint)


async def test_watchers_on_etcd_share_one_etcd_watch_and_resume_from_memory_until_compacted(api: Api) -> None:
    store = api.store
    assert isinstance(store, CountingStore)
    _, rv = await api.registry.list(PODS)
    watchers = [api.registry.watch(PODS, resource_version=str(rv)) for _ in range(20)]
    firsts = [asyncio.ensure_future(anext(w)) for w in watchers]
    cache = api.watch_cache
    assert cache is not None
    await eventually(lambda: cache.watchers(PODS) == 20, 10, "20 watchers following the cache")
    created = await api.registry.create(make_pod("shared"))
    events = await asyncio.wait_for(asyncio.gather(*firsts), 10)
    assert {(e.type, e.object.metadata.uid) for e in events} == {("ADDED", created.metadata.uid)}
    assert store.watches == 1

    later = await api.registry.create(make_pod("later"))
    resumed = api.registry.watch(PODS, resource_version=created.metadata.resource_version)
    event = await asyncio.wait_for(anext(resumed), 10)
    assert event.object is not None and event.object.metadata.uid == later.metadata.uid
    assert store.watches == 1  # resumed from the cache's window
    await resumed.aclose()

    await store.compact(int(later.metadata.resource_version))
    with pytest.raises(errors.Gone):  # the window still holds it, but etcd says it is gone
        await anext(api.registry.watch(PODS, resource_version=str(rv)))
    listed, at = await api.registry.list(PODS, resource_version="0")
    assert [p.metadata.name for p in listed] == ["later", "shared"] and at >= int(later.metadata.resource_version)
    for w in watchers:
        await w.aclose()
