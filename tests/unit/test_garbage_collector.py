"""The garbage collector against the in-memory API, on ConfigMaps (any kind owns and is owned alike):
background, foreground (blockOwnerDeletion) and orphan propagation, and finalizers that hold an object."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.v1 import objects_pb2 as v1
from tests.support.waiting import eventually

TIMEOUT = 10.0
HOLD = "example.com/hold"



@contextlib.asynccontextmanager
async def collecting() -> AsyncIterator[tuple[InMemoryApi, GarbageCollector]]:
    cluster = InMemoryApi()
    gc = GarbageCollector(cluster)
    task = asyncio.create_task(gc.run())
    try:
        yield cluster, gc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.queue.close()


def config_map(cluster: InMemoryApi, name: str, *owners: v1.ConfigMap, block: bool = True,
               finalizers: tuple[str, ...] = ()) -> v1.ConfigMap:
    cm = v1.ConfigMap(metadata=v1.ObjectMeta(name=name, finalizers=list(finalizers)))
    for owner in owners:
        cm.metadata.owner_references.add(api_version="v1", kind="ConfigMap", name=owner.metadata.name,
                                         uid=owner.metadata.uid, block_owner_deletion=block)
    created: v1.ConfigMap = cluster.create_now(cm)
    return created


def names(cluster: InMemoryApi) -> set[str]:
    return {cm.metadata.name for cm in cluster.objects(v1.ConfigMap)}


def get(cluster: InMemoryApi, name: str) -> v1.ConfigMap | None:
    try:
        found: v1.ConfigMap = cluster.get_now(v1.ConfigMap, name)
        return found
    except errors.NotFound:
        return None


def release(cluster: InMemoryApi, name: str) -> None:
    cm = get(cluster, name)
    assert cm is not None
    cm.metadata.finalizers.remove(HOLD)
    cluster.update_now(cm)


async def test_background_deletes_the_owner_at_once_and_its_dependents_after() -> None:
    async with collecting() as (cluster, gc):
        owner, other = config_map(cluster, "owner"), config_map(cluster, "other")
        config_map(cluster, "child", owner)
        config_map(cluster, "grandchild", get(cluster, "child"))  # type: ignore[arg-type]
        shared = config_map(cluster, "shared", owner, other)
        _, removed = cluster.delete_now(v1.ConfigMap, "owner")
        assert removed
        await eventually(lambda: names(cluster) == {"other", "shared"})
        kept = get(cluster, "shared")
        assert kept is not None and [r.name for r in kept.metadata.owner_references] == ["other"]
        assert kept.metadata.uid == shared.metadata.uid


async def test_foreground_keeps_the_owner_until_its_blocking_dependents_are_gone() -> None:
    async with collecting() as (cluster, gc):
        owner = config_map(cluster, "owner")
        config_map(cluster, "held", owner, finalizers=(HOLD,))
        config_map(cluster, "plain", owner)
        config_map(cluster, "loose", owner, block=False, finalizers=(HOLD,))
        marked, removed = cluster.delete_now(v1.ConfigMap, "owner", propagation_policy="Foreground")
        assert not removed and list(marked.metadata.finalizers) == ["foregroundDeletion"]
        # Every dependent is deleted; the held ones stay marked, and the blocking one holds the owner.
        await eventually(lambda: "plain" not in names(cluster))
        await eventually(lambda: all(get(cluster, n).metadata.HasField("deletion_timestamp")  # type: ignore[union-attr]
                                for n in ("held", "loose")))
        await gc.quiesced()
        assert get(cluster, "owner") is not None, "a blocking dependent is still there"
        release(cluster, "held")
        await eventually(lambda: "owner" not in names(cluster))
        assert names(cluster) == {"loose"}, "a dependent that does not block is deleted but not waited for"


async def test_foreground_deletion_reaches_grandchildren_before_the_owner_goes() -> None:
    async with collecting() as (cluster, gc):
        owner = config_map(cluster, "owner")
        child = config_map(cluster, "child", owner)
        config_map(cluster, "grandchild", child, finalizers=(HOLD,))
        cluster.delete_now(v1.ConfigMap, "owner", propagation_policy="Foreground")
        await eventually(lambda: (g := get(cluster, "grandchild")) is not None
                         and g.metadata.HasField("deletion_timestamp"))
        child_now = get(cluster, "child")
        assert child_now is not None and "foregroundDeletion" in child_now.metadata.finalizers
        assert get(cluster, "owner") is not None
        release(cluster, "grandchild")
        await eventually(lambda: not names(cluster))


async def test_orphan_removes_the_owner_and_leaves_its_dependents_without_it() -> None:
    async with collecting() as (cluster, gc):
        owner = config_map(cluster, "owner")
        config_map(cluster, "child", owner)
        marked, removed = cluster.delete_now(v1.ConfigMap, "owner", propagation_policy="Orphan")
        assert not removed and list(marked.metadata.finalizers) == ["orphan"]
        await eventually(lambda: names(cluster) == {"child"})
        child = get(cluster, "child")
        assert child is not None and not child.metadata.owner_references


async def test_a_dependent_whose_owner_has_a_new_uid_is_collected() -> None:
    async with collecting() as (cluster, gc):
        stale = v1.ConfigMap(metadata=v1.ObjectMeta(name="owner", uid="gone-long-ago"))
        config_map(cluster, "owner")
        config_map(cluster, "child", stale)
        await eventually(lambda: names(cluster) == {"owner"})
